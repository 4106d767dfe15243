//! What a tier computes from a text once, for each of its models to read: the `fast` tier's
//! hashed n-grams, the `accurate` tier's encoder embedding. The sentiment stage computes it and
//! the emotion stage reads it, so a document is hashed or encoded once however many models
//! judge it.

/// One text's encoding by a tier.
#[derive(Debug, Clone)]
pub enum Encoding {
    /// The `fast` tier's: [`crate::nlp::features::FeatureHasher`] features.
    Hashed(Vec<u32>),
    /// The `accurate` tier's: the adapted encoder's embedding, and the `fast` tier's features,
    /// which its models read beside it (the n-gram models' answers complement the encoder's).
    Embedded { embedding: Vec<f32>, features: Vec<u32> },
}

impl Encoding {
    /// The fast tier's features; an error for an encoding the accurate tier made.
    pub fn hashed(&self) -> anyhow::Result<&[u32]> {
        match self {
            Encoding::Hashed(features) => Ok(features),
            Encoding::Embedded { .. } => anyhow::bail!("the fast tier cannot read an encoding by the accurate tier"),
        }
    }

    /// The accurate tier's embedding and features; an error for an encoding the fast tier made.
    pub fn embedded(&self) -> anyhow::Result<(&[f32], &[u32])> {
        match self {
            Encoding::Embedded { embedding, features } => Ok((embedding, features)),
            Encoding::Hashed(_) => anyhow::bail!("the accurate tier cannot read an encoding by the fast tier"),
        }
    }
}
