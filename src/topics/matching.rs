//! Stable topic ids: a new discovery's topics matched one-to-one with the previous model's.
//!
//! The matching maximises the total score of the pairs (Kuhn–Munkres). When the verbatims'
//! previous topics are known, a pair scores the verbatims the two topics share, which is
//! exactly what keeps ids on the same verbatims, and counts when they share at least half of
//! the smaller; otherwise a pair scores its centroids' similarity and counts when the old
//! centroid would itself be assigned to the new topic (at or above the new model's floor). A
//! topic that moved far gets a new id rather than an old name over new content.

use std::collections::HashMap;

use pathfinding::prelude::{kuhn_munkres, Matrix};

use super::dot;

pub(super) struct Ids {
    /// Per new topic, its id.
    pub ids: Vec<i64>,
    pub next_id: i64,
}

/// What is known of the previous topics.
pub(super) struct PreviousTopics<'p> {
    /// Their ids.
    pub ids: Vec<i64>,
    /// Their centroids in the new discovery's space, when it is theirs too.
    pub centroids: Option<Vec<Vec<f32>>>,
    /// Per verbatim of the new discovery, the topic it had (empty when unknown).
    pub topic_ids: &'p [Option<i64>],
    pub next_id: i64,
}

/// Ids for the new topics (`centroids`, and `labels`: each verbatim's new topic index).
pub(super) fn ids(centroids: &[Vec<f32>], labels: &[Option<usize>], previous: &PreviousTopics<'_>, floor: f32) -> Ids {
    let mut ids = vec![None; centroids.len()];
    let mut next_id = previous.next_id;
    // Per (old, new) pair, its score, or 0 when the pair may not share an id (so that it
    // cannot pull the matching).
    let weights: Option<Vec<Vec<f64>>> = if !previous.topic_ids.is_empty() {
        Some(shared_verbatims(&previous.ids, centroids.len(), labels, previous.topic_ids))
    } else {
        previous.centroids.as_ref().map(|old| {
            old.iter()
                .map(|o| {
                    centroids
                        .iter()
                        .map(|n| f64::from(dot(o, n)))
                        .map(|s| if s >= f64::from(floor) { s } else { 0.0 })
                        .collect()
                })
                .collect()
        })
    };
    if let Some(weights) = weights.filter(|w| !w.is_empty() && !centroids.is_empty()) {
        for (o, n) in best_pairs(&weights) {
            if weights[o][n] > 0.0 {
                ids[n] = Some(previous.ids[o]);
            }
        }
    }
    let ids = ids
        .into_iter()
        .map(|id| {
            id.unwrap_or_else(|| {
                next_id += 1;
                next_id - 1
            })
        })
        .collect();
    Ids { ids, next_id }
}

/// Verbatims each (old, new) pair shares, where that is at least half of the smaller of the
/// two topics (the old one counted over every verbatim that had it), else 0.
fn shared_verbatims(
    old_ids: &[i64],
    new_topics: usize,
    labels: &[Option<usize>],
    topic_ids: &[Option<i64>],
) -> Vec<Vec<f64>> {
    let index: HashMap<i64, usize> = old_ids.iter().enumerate().map(|(o, id)| (*id, o)).collect();
    let mut shared = vec![vec![0f64; new_topics]; old_ids.len()];
    let mut old_sizes = vec![0f64; old_ids.len()];
    let mut new_sizes = vec![0f64; new_topics];
    for (label, id) in labels.iter().zip(topic_ids) {
        let old = id.and_then(|id| index.get(&id));
        if let Some(o) = old {
            old_sizes[*o] += 1.0;
        }
        if let Some(n) = label {
            new_sizes[*n] += 1.0;
            if let Some(o) = old {
                shared[*o][*n] += 1.0;
            }
        }
    }
    for (o, row) in shared.iter_mut().enumerate() {
        for (n, count) in row.iter_mut().enumerate() {
            if 2.0 * *count < old_sizes[o].min(new_sizes[n]) {
                *count = 0.0;
            }
        }
    }
    shared
}

/// The (old, new) pairs maximising the total score, each side used once.
fn best_pairs(score: &[Vec<f64>]) -> Vec<(usize, usize)> {
    let (old, new) = (score.len(), score[0].len());
    // kuhn_munkres wants no more rows than columns (rows: the smaller side) and integer
    // weights (scores in millionths).
    let transpose = old > new;
    let (rows, columns) = if transpose { (new, old) } else { (old, new) };
    let pair = |row: usize, column: usize| if transpose { (column, row) } else { (row, column) };
    let weights = Matrix::from_fn(rows, columns, |(r, c)| {
        let (o, n) = pair(r, c);
        (score[o][n] * 1e6).round() as i64
    });
    let (_, assignment) = kuhn_munkres(&weights);
    assignment.iter().enumerate().map(|(row, &column)| pair(row, column)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn previous(topic_ids: &[Option<i64>]) -> PreviousTopics<'_> {
        PreviousTopics {
            ids: vec![3, 7, 9],
            centroids: Some(vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]]),
            topic_ids,
            next_id: 10,
        }
    }

    #[test]
    fn topics_close_to_old_ones_keep_their_ids_and_new_ones_never_reuse_an_old_id() {
        // The first two barely moved and swapped places; the third is gone; one is new.
        let new = [[0.02, 0.9998], [0.9998, 0.02], [-1.0, 0.0]].map(|c| c.to_vec());
        let found = ids(&new, &[], &previous(&[]), 0.95);
        assert_eq!(found.ids, vec![7, 3, 10]);
        assert_eq!(found.next_id, 11);
        // More old topics than new ones, and a first discovery.
        assert_eq!(ids(&[vec![0.6, 0.8]], &[], &previous(&[]), 0.95).ids, vec![9]);
        let first = PreviousTopics { ids: Vec::new(), centroids: None, topic_ids: &[], next_id: 0 };
        assert_eq!(ids(&new, &[], &first, 0.95).ids, vec![0, 1, 2]);
    }

    #[test]
    fn with_known_memberships_ids_follow_the_verbatims() {
        // Centroids say nothing useful here; the verbatims do: new topic 0 holds old topic 9's
        // verbatims; new topic 1 holds one of old topic 3's four among three members (under
        // half of either: a new id).
        let centroids = [vec![1.0, 0.0], vec![0.0, 1.0]];
        let labels = [Some(0), Some(0), Some(1), Some(1), Some(1), None, None, None];
        let topic_ids = [Some(9), Some(9), Some(3), None, None, Some(3), Some(3), Some(3)];
        let found = ids(&centroids, &labels, &previous(&topic_ids), 0.95);
        assert_eq!(found.ids, vec![9, 10]);
    }
}
