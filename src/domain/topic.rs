//! A verbatim's topic, as the topic model that gave it says (see `crate::topics`).

use serde::{Deserialize, Serialize};

/// The topic id of a verbatim that no topic is near enough to (an outlier).
pub const NO_TOPIC: i64 = -1;

/// Which topic a verbatim belongs to, under which saved topic model, and how it was found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TopicAssignment {
    /// The topic's id, or [`NO_TOPIC`].
    pub id: i64,
    /// The version of the saved topic model that assigned it.
    pub model: u32,
    /// Cosine similarity to the topic's centre, in the space it was assigned in.
    pub similarity: f32,
    pub by: AssignedBy,
}

/// How an assignment was made: the encoder's is the reference; words are a cheap stand-in at
/// ingestion, refined once the encoder reads the verbatim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssignedBy {
    /// Clustered, or assigned, when the model was discovered.
    Discovery,
    /// Compared with the topics in the model's own vector space after discovery.
    Model,
    /// Compared with the topics' words (hashed TF-IDF) at ingestion, because the model's
    /// space is the encoder's and the write path does not wait for the encoder.
    Words,
}

impl TopicAssignment {
    /// Whether the assignment stands for a topic (not [`NO_TOPIC`]).
    pub fn topic(&self) -> Option<i64> {
        (self.id != NO_TOPIC).then_some(self.id)
    }
}
