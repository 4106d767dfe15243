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
    /// The tier that makes this kind of encoding, named in errors about a mismatch.
    pub fn tier(&self) -> crate::domain::Tier {
        match self {
            Encoding::Hashed(_) => crate::domain::Tier::Fast,
            Encoding::Embedded { .. } => crate::domain::Tier::Accurate,
        }
    }

    /// The error for a model of tier `reader` handed this encoding, which another tier made.
    pub fn foreign(&self, reader: crate::domain::Tier) -> anyhow::Error {
        anyhow::anyhow!("the {reader} tier cannot read an encoding by the {} tier", self.tier())
    }
}
