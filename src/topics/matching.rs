//! Stable topic ids: a new discovery's topics matched one-to-one with the previous model's.
//!
//! The matching maximises the total centroid similarity (Kuhn–Munkres); a pair counts only when
//! the old centroid would itself be assigned to the new topic (its similarity is at or above
//! the new model's floor), so a topic that moved far gets a new id rather than an old name
//! over new content.

use pathfinding::prelude::{kuhn_munkres, Matrix};

use super::dot;

pub(super) struct Ids {
    /// Per new centroid, its id.
    pub ids: Vec<i64>,
    pub next_id: i64,
}

/// Ids for `centroids` (in order), keeping the ids of `previous` topics (id, centroid in the
/// same space) where they match; new topics are numbered from `next_id`.
pub(super) fn ids(centroids: &[Vec<f32>], previous: &[(i64, Vec<f32>)], mut next_id: i64, floor: f32) -> Ids {
    let mut ids = vec![None; centroids.len()];
    if !previous.is_empty() && !centroids.is_empty() {
        // kuhn_munkres wants no more rows than columns: rows are the smaller side.
        let transpose = previous.len() > centroids.len();
        let (rows, columns) = if transpose { (centroids.len(), previous.len()) } else { (previous.len(), centroids.len()) };
        let pair = |row: usize, column: usize| if transpose { (column, row) } else { (row, column) };
        let similarity = |(old, new): (usize, usize)| dot(&previous[old].1, &centroids[new]);
        // Integer weights for the solver: similarities in millionths.
        let weights = Matrix::from_fn(rows, columns, |(r, c)| (similarity(pair(r, c)) * 1e6).round() as i64);
        let (_, assignment) = kuhn_munkres(&weights);
        for (row, &column) in assignment.iter().enumerate() {
            let (old, new) = pair(row, column);
            if similarity((old, new)) >= floor {
                ids[new] = Some(previous[old].0);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matched_topics_keep_their_ids_and_new_ones_never_reuse_an_old_id() {
        let previous: Vec<(i64, Vec<f32>)> = vec![(3, vec![1.0, 0.0]), (7, vec![0.0, 1.0]), (9, vec![0.6, 0.8])];
        // The first two barely moved and swapped places; the third is gone; one is new.
        let new = [[0.02, 0.9998], [0.9998, 0.02], [-1.0, 0.0]].map(|c| c.to_vec());
        let found = ids(&new, &previous, 10, 0.95);
        assert_eq!(found.ids, vec![7, 3, 10]);
        assert_eq!(found.next_id, 11);
        // More old topics than new ones, and a first discovery.
        assert_eq!(ids(&[vec![0.6, 0.8]], &previous, 10, 0.95).ids, vec![9]);
        assert_eq!(ids(&new, &[], 0, 0.95).ids, vec![0, 1, 2]);
    }
}
