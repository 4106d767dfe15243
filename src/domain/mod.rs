//! The shared vocabulary: what a verbatim is, what analysis says about it, and the scales and
//! limits every part agrees on. Types only, no I/O: turning raw input into these types is
//! [`crate::input`]'s job, analysing them [`crate::pipeline`]'s.

mod alert;
mod aspect;
mod channel;
mod emotion;
mod pii;
mod root_cause;
mod sentiment;
mod survey;
mod time;
mod topic;
mod verbatim;

pub use alert::{
    Alert, AlertRule, CountDistribution, DeliveryState, FollowUp, FollowUpPolicy, FollowUpStatus, VolumeFigures,
    VolumeFinding, VolumeRule, VolumeTest, Webhook,
};
pub use aspect::{aspect_key, JudgedAspect};
pub use channel::Channel;
pub use emotion::{Emotion, EmotionScore, NO_EMOTION};
pub use pii::{PiiKind, Redaction};
pub use root_cause::{CitedRootCause, RootCauseAssignment};
pub use sentiment::{Confidence, ModelVersion, Sentiment, SentimentLabel, Tier};
pub use survey::{NpsGroup, CES_EASY, CES_SCALE, CSAT_SATISFIED, CSAT_SCALE, NPS_SCALE};
pub use time::{clamp_to_supported, day_start, parse_timestamp, rfc3339, Period, SUPPORTED_YEARS};
pub use topic::{AssignedBy, TopicAssignment, NO_TOPIC};
pub use verbatim::{
    Document, Verbatim, MAX_ID_BYTES, MAX_METADATA_ENTRIES, MAX_METADATA_KEY_BYTES, MAX_METADATA_VALUE_BYTES,
    MAX_TEXT_CHARS, OTHER_LANGUAGE,
};
