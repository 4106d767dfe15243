//! Clustering a sample of vectors into topics.
//!
//! Three methods, compared on the dev data in eval/RESULTS.md:
//! - [`Method::Leiden`] (the default): a graph of each verbatim's nearest neighbours, its
//!   communities found by Leiden (single-clustering). It finds the number of topics itself and
//!   scored best on BANKING77: neighbourhoods follow the shape of the data where k-means
//!   draws straight borders between spheres;
//! - [`Method::KMeans`] (linfa): k-means++ with several runs on the whitened principal
//!   components; used whenever the caller gives the number of topics;
//! - [`Method::Hdbscan`] (petal-clustering): density clustering after PCA to few dimensions
//!   (density estimates degrade above ~50), the method of BERTopic.
//!
//! Every method reads vectors already centered and normalised (see [`super::TopicModel::center`]).

use anyhow::Context;
use linfa::prelude::*;
use linfa_clustering::{KMeans, KMeansInit};
use linfa_reduction::Pca;
use ndarray::{s, Array2, ArrayView2, Axis};
use petal_clustering::HDbscan;
use rand::seq::index;
use rand::SeedableRng;
use rand_xoshiro::rand_core::SeedableRng as _;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use single_clustering::community_search::leiden::{leiden, LeidenConfig};
use single_clustering::network::CSRNetwork;

use super::DiscoverySettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Communities of the nearest-neighbour graph; finds the number of topics itself.
    #[default]
    Leiden,
    /// k-means++ on whitened principal components; the method for a given number of topics.
    KMeans,
    /// Density clustering on few principal components, as BERTopic does (after UMAP there).
    Hdbscan,
}

/// Neighbours each verbatim is linked to in the Leiden graph.
const NEIGHBOURS: usize = 10;
/// Leiden's resolution is `RESOLUTION_SCALE / √n` for `n` verbatims: a fixed resolution finds
/// ever more topics as the sample grows. Tuned on BANKING77 train subsamples (eval/RESULTS.md).
const RESOLUTION_SCALE: f64 = 440.0;
/// The share of verbatims that must fall in communities of [`MIN_TOPIC_SIZE`] or more for a
/// resolution to stand.
const MIN_SHARE_IN_TOPICS: f64 = 0.9;
/// The coarsest resolution tried (modularity's own).
const MIN_RESOLUTION: f64 = 1.0;
/// Dimensions k-means reads after PCA.
const KMEANS_DIMENSIONS: usize = 64;
/// Dimensions HDBSCAN reads after PCA.
const HDBSCAN_DIMENSIONS: usize = 10;
/// Fewest verbatims a cluster needs to become a topic; smaller ones go to the nearest topic.
const MIN_TOPIC_SIZE: usize = 5;

/// Which cluster each sampled vector fell in (`None`: noise, or a cluster too small).
pub(super) struct Clustering {
    pub labels: Vec<Option<usize>>,
    pub clusters: usize,
    /// The Leiden resolution that found them.
    pub resolution: Option<f64>,
}

/// Indices of at most `size` of `n` items, chosen by `seed`, in increasing order.
pub fn sample(n: usize, size: usize, seed: u64) -> Vec<usize> {
    if n <= size {
        return (0..n).collect();
    }
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut chosen = index::sample(&mut rng, n, size).into_vec();
    chosen.sort_unstable();
    chosen
}

/// The normalised mean of each cluster's members (the zero vector for a cluster with none).
pub(super) fn means(vectors: &[&[f32]], labels: &[Option<usize>], clusters: usize) -> Vec<Vec<f32>> {
    let dimension = vectors.first().map_or(0, |v| v.len());
    let mut sums = vec![vec![0f32; dimension]; clusters];
    for (vector, label) in vectors.iter().zip(labels) {
        if let Some(c) = label {
            sums[*c].iter_mut().zip(vector.iter()).for_each(|(s, x)| *s += x);
        }
    }
    sums.iter_mut().for_each(|sum| super::normalize(sum));
    sums
}

/// Clusters `points` as `settings` says. A re-discovery passes what the previous model was
/// found with, so that it finds the same topics again: its centroids seed k-means
/// (`warm_start`), its resolution is Leiden's (the granularity stays that of the topics
/// analysts know, where the rule for a fresh discovery would move it with the sample size).
pub(super) fn cluster(
    points: &[&[f32]],
    settings: &DiscoverySettings,
    warm_start: &[Vec<f32>],
    previous_resolution: Option<f64>,
) -> anyhow::Result<Clustering> {
    anyhow::ensure!(!points.is_empty(), "no verbatims to find topics in");
    if points.len() <= NEIGHBOURS {
        // Too few to find structure in (and PCA needs more rows than it keeps dimensions).
        return Ok(Clustering { labels: vec![Some(0); points.len()], clusters: 1, resolution: None });
    }
    let clustering = match settings.method_run() {
        Method::Hdbscan => hdbscan(points)?,
        Method::KMeans => k_means(points, settings, warm_start)?,
        Method::Leiden => leiden_communities(points, settings, previous_resolution)?,
    };
    // A number of topics asked for is kept, however small some turn out; found ones must be
    // topics, not a handful of stray verbatims.
    let min_size = if settings.topics.is_some() { 1 } else { MIN_TOPIC_SIZE };
    Ok(without_small_clusters(&clustering, min_size))
}

fn matrix(points: &[&[f32]]) -> Array2<f32> {
    Array2::from_shape_fn((points.len(), points[0].len()), |(i, j)| points[i][j])
}

/// The graph of nearest neighbours, weighted as UMAP does (a neighbour at the distance of
/// the nearest weighs 1, further ones decay with the neighbourhood's spread; an edge found
/// from both ends is the fuzzy union of its two weights), cut into communities by Leiden.
fn leiden_communities(
    points: &[&[f32]],
    settings: &DiscoverySettings,
    resolution: Option<f64>,
) -> anyhow::Result<Clustering> {
    let seed = settings.seed;
    let n = points.len();
    let data = matrix(points);
    let neighbours = nearest_neighbours(data.view(), NEIGHBOURS);
    let mut edges: std::collections::HashMap<(usize, usize), f64> = std::collections::HashMap::new();
    for (i, row) in neighbours.iter().enumerate() {
        let nearest = row[0].1;
        let spread = (row.iter().map(|(_, s)| f64::from(nearest - s)).sum::<f64>() / row.len() as f64).max(1e-6);
        for &(j, similarity) in row {
            let weight = (-f64::from(nearest - similarity) / spread).exp();
            let edge = edges.entry((i.min(j), i.max(j))).or_insert(0.0);
            *edge = *edge + weight - *edge * weight;
        }
    }
    let mut edges: Vec<(usize, usize, f64)> = edges.into_iter().map(|((a, b), w)| (a, b, w)).collect();
    edges.sort_by_key(|edge| (edge.0, edge.1));
    let graph = CSRNetwork::from_edges(n, &edges).context("building the neighbour graph")?;
    // A resolution too fine for the data cuts it into crumbs smaller than a topic (a small file
    // with a few themes): halve it until nearly every verbatim is in a community large enough.
    let mut resolution = resolution.unwrap_or(settings.granularity * RESOLUTION_SCALE / (n as f64).sqrt());
    loop {
        let config = LeidenConfig { seed: Some(seed), ..LeidenConfig::with_resolution(resolution) };
        let communities = leiden(&graph, &config).context("Leiden")?;
        let clustering = Clustering {
            labels: communities.labels().iter().map(|&c| Some(c)).collect(),
            clusters: communities.n_clusters(),
            resolution: Some(resolution),
        };
        let in_topics = without_small_clusters(&clustering, MIN_TOPIC_SIZE).labels.iter().flatten().count();
        if in_topics as f64 >= MIN_SHARE_IN_TOPICS * n as f64 || resolution <= MIN_RESOLUTION {
            return Ok(clustering);
        }
        resolution /= 2.0;
    }
}

/// Each row's `k` most similar other rows (by dot product), most similar first.
fn nearest_neighbours(data: ArrayView2<'_, f32>, k: usize) -> Vec<Vec<(usize, f32)>> {
    const BLOCK: usize = 512;
    let starts: Vec<usize> = (0..data.nrows()).step_by(BLOCK).collect();
    starts
        .into_par_iter()
        .flat_map_iter(|start| {
            let block = data.slice(s![start..(start + BLOCK).min(data.nrows()), ..]);
            let similarities = block.dot(&data.t());
            similarities
                .axis_iter(Axis(0))
                .enumerate()
                .map(|(offset, row)| {
                    let mut best: Vec<(usize, f32)> =
                        row.iter().copied().enumerate().filter(|(j, _)| *j != start + offset).collect();
                    best.select_nth_unstable_by(k - 1, |a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    best.truncate(k);
                    best.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    best
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `points` on their first `dimensions` principal components, whitened (each component
/// scaled to unit variance) and normalised; the projection is returned to map other vectors.
fn project(points: &[&[f32]], dimensions: usize) -> anyhow::Result<(Array2<f32>, Pca<f64>)> {
    let data = matrix(points).mapv(f64::from);
    let dimensions = dimensions.min(data.ncols()).min(points.len().saturating_sub(1)).max(1);
    let pca = Pca::params(dimensions).whiten(true).fit(&DatasetBase::from(data.clone())).context("fitting PCA")?;
    let projected = pca.predict(&data);
    Ok((normalized_rows(projected.mapv(|x| x as f32)), pca))
}

fn normalized_rows(mut rows: Array2<f32>) -> Array2<f32> {
    for mut row in rows.rows_mut() {
        let norm = row.dot(&row).sqrt();
        if norm > 0.0 {
            row /= norm;
        }
    }
    rows
}

fn k_means(points: &[&[f32]], settings: &DiscoverySettings, warm_start: &[Vec<f32>]) -> anyhow::Result<Clustering> {
    let n = points.len();
    let (projected, pca) = project(points, KMEANS_DIMENSIONS)?;
    // Without a given count: one topic per ~√(n/2)… the classic rule of thumb.
    let clusters = settings.topics.unwrap_or(((n as f64 / 2.0).sqrt().round() as usize).max(2)).clamp(1, n);
    let rng = rand_xoshiro::Xoshiro256Plus::seed_from_u64(settings.seed);
    let dataset = DatasetBase::from(projected.clone());
    let params = KMeans::params_with_rng(clusters, rng).max_n_iterations(300).tolerance(1e-4);
    let model = if warm_start.is_empty() || warm_start[0].len() != points[0].len() {
        params.n_runs(4).fit(&dataset)
    } else {
        // The previous centroids, projected, then as many sampled points as the count asks for.
        let previous: Vec<&[f32]> = warm_start.iter().take(clusters).map(Vec::as_slice).collect();
        let mut seeds = normalized_rows(pca.predict(&matrix(&previous).mapv(f64::from)).mapv(|x| x as f32));
        if seeds.nrows() < clusters {
            let extra = sample(n, clusters - seeds.nrows(), settings.seed);
            let rows: Vec<ndarray::ArrayView1<f32>> = extra.iter().map(|&i| projected.row(i)).collect();
            seeds = ndarray::concatenate(Axis(0), &[seeds.view(), ndarray::stack(Axis(0), &rows)?.view()])?;
        }
        params.n_runs(1).init_method(KMeansInit::Precomputed(seeds)).fit(&dataset)
    }
    .context("k-means")?;
    let labels = model.predict(&projected);
    Ok(Clustering { labels: labels.iter().map(|&c| Some(c)).collect(), clusters, resolution: None })
}

fn hdbscan(points: &[&[f32]]) -> anyhow::Result<Clustering> {
    let (projected, _) = project(points, HDBSCAN_DIMENSIONS)?;
    let mut model = HDbscan { min_cluster_size: 10, min_samples: 10, ..HDbscan::default() };
    let (clusters, _noise, _scores) = petal_clustering::Fit::fit(&mut model, &projected, None);
    let mut ids: Vec<usize> = clusters.keys().copied().collect();
    ids.sort_unstable();
    let mut labels = vec![None; points.len()];
    for (new, id) in ids.iter().enumerate() {
        for &member in &clusters[id] {
            labels[member] = Some(new);
        }
    }
    Ok(Clustering { labels, clusters: ids.len(), resolution: None })
}

/// Clusters under `min_size` dissolved (their members unlabelled), the rest renumbered.
fn without_small_clusters(clustering: &Clustering, min_size: usize) -> Clustering {
    let mut sizes = vec![0usize; clustering.clusters];
    for c in clustering.labels.iter().flatten() {
        sizes[*c] += 1;
    }
    let mut renumber = vec![None; clustering.clusters];
    let mut clusters = 0;
    for (c, size) in sizes.iter().enumerate() {
        if *size >= min_size.min(clustering.labels.len()) {
            renumber[c] = Some(clusters);
            clusters += 1;
        }
    }
    Clustering {
        labels: clustering.labels.iter().map(|l| l.and_then(|c| renumber[c])).collect(),
        clusters,
        resolution: clustering.resolution,
    }
}
