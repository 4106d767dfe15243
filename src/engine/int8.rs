//! Dense layers in 8-bit integers, on CPUs with AVX-512 VNNI: weights quantised once at load
//! (symmetric, per output channel), activations at each call (asymmetric, per token: a GELU
//! output spans [-0.17, max], and a symmetric range would waste half its 256 steps); one
//! `vpdpbusd` multiplies and adds 64 byte pairs where an f32 FMA does 16 pairs. Elsewhere the
//! f32 layers run unchanged.
//!
//! The product is tiled as the int8 kernels of oneDNN and onnxruntime's MLAS are: a register
//! holds 16 output channels × 4 consecutive inputs of the weights (packed so at load time), a
//! token's 4 matching activation bytes are broadcast against it, and each `i32` lane
//! accumulates one output of one token, so no sum ever crosses lanes. A tile of
//! [`TILE_ROWS`] tokens × [`TILE_PANELS`] registers of channels keeps 16 accumulators in flight.

use std::mem::MaybeUninit;

use rayon::prelude::*;

/// Output channels per register: 16 `i32` lanes.
const CHANNELS: usize = 16;
/// Inputs per lane: `vpdpbusd` multiplies 4 byte pairs into each `i32` lane.
const GROUP: usize = 4;
/// Tokens per register tile.
#[cfg(target_arch = "x86_64")]
const TILE_ROWS: usize = 8;
/// Registers of output channels per tile (32 channels).
const TILE_PANELS: usize = 2;
/// Tokens per parallel task: each task reads every weight once, so larger tasks read less.
const ROWS_PER_TASK: usize = 64;

/// `y = x Wᵀ + b` with `W` in `i8`, one scale per output channel.
pub struct Int8Dense {
    outputs: usize,
    inputs: usize,
    /// `inputs` rounded up to [`GROUP`]; the padding holds zeros.
    padded_inputs: usize,
    /// `outputs` rounded up to a tile's channels; the padding holds zeros.
    padded_outputs: usize,
    /// Per register of [`CHANNELS`] outputs, per group of [`GROUP`] inputs: 16 channels × 4
    /// inputs, the 64 bytes one `vpdpbusd` reads.
    packed: Vec<i8>,
    /// Per output channel (padded), the weights' scale.
    scales: Vec<f32>,
    /// The sum of each quantised channel: times a token's zero point, what that offset adds.
    sums: Vec<i32>,
    bias: Vec<f32>,
}

/// Tokens' activations in `u8`: `x ≈ scale × (q − zero)`, one scale and zero point a token.
struct Quantised {
    values: Vec<u8>,
    scales: Vec<f32>,
    zeros: Vec<i32>,
}

impl Int8Dense {
    /// Whether this CPU runs the kernel (checked at run time: the binary runs anywhere).
    pub fn supported() -> bool {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512vnni")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    }

    /// Quantises `weight` (`outputs × inputs`, row-major) symmetrically per output channel;
    /// `None` where the CPU cannot run the kernel, so that a layer that exists can run.
    pub fn new(weight: &[f32], bias: Vec<f32>, outputs: usize, inputs: usize) -> Option<Int8Dense> {
        if !Self::supported() {
            return None;
        }
        let padded_inputs = inputs.div_ceil(GROUP) * GROUP;
        let padded_outputs = outputs.div_ceil(CHANNELS * TILE_PANELS) * CHANNELS * TILE_PANELS;
        let groups = padded_inputs / GROUP;
        let mut packed = vec![0i8; padded_outputs * padded_inputs];
        let mut scales = vec![0f32; padded_outputs];
        let mut sums = vec![0i32; padded_outputs];
        for (channel, row) in weight.chunks_exact(inputs).enumerate() {
            let scale = row.iter().fold(0f32, |m, w| m.max(w.abs())).max(f32::MIN_POSITIVE) / 127.0;
            let (panel, lane) = (channel / CHANNELS, channel % CHANNELS);
            for (k, w) in row.iter().enumerate() {
                let q = (w / scale).round().clamp(-127.0, 127.0) as i8;
                packed[((panel * groups + k / GROUP) * CHANNELS + lane) * GROUP + k % GROUP] = q;
                sums[channel] += i32::from(q);
            }
            scales[channel] = scale;
        }
        let mut bias = bias;
        bias.resize(padded_outputs, 0.0);
        Some(Int8Dense { outputs, inputs, padded_inputs, padded_outputs, packed, scales, sums, bias })
    }

    pub fn outputs(&self) -> usize {
        self.outputs
    }

    pub fn inputs(&self) -> usize {
        self.inputs
    }

    /// `x` is `rows × inputs`, row-major; returns `rows × outputs`.
    pub fn forward(&self, x: &[f32], rows: usize) -> Vec<f32> {
        assert_eq!(x.len(), rows * self.inputs, "int8 dense: {rows} rows of {} inputs", self.inputs);
        // Not zeroed first: the product writes every output (zeroing was a tenth of the
        // encoder's time in a profile).
        let mut y = Vec::with_capacity(rows * self.outputs);
        y.spare_capacity_mut()[..rows * self.outputs]
            .par_chunks_mut(ROWS_PER_TASK * self.outputs)
            .zip(x.par_chunks(ROWS_PER_TASK * self.inputs))
            .for_each(|(y, x)| {
                // SAFETY: `new` built this layer only where `supported()` holds.
                unsafe {
                    let quantised = self.quantise_rows(x);
                    self.product(&quantised, y);
                }
            });
        // SAFETY: `product` wrote every output of every row.
        unsafe { y.set_len(rows * self.outputs) };
        y
    }

    /// Each row to `u8` over its own range [min, max], which always holds 0 (so that 0 is
    /// exact, as padding and ReLU-like outputs need).
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn quantise_rows(&self, x: &[f32]) -> Quantised {
        use std::arch::x86_64::*;
        let rows = x.len() / self.inputs;
        let mut values = Vec::with_capacity(rows * self.padded_inputs);
        let (mut scales, mut zeros) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
        let chunks = self.inputs.div_ceil(16);
        // The lanes of the last chunk that hold inputs.
        let tail: __mmask16 = match self.inputs % 16 {
            0 => 0xffff,
            n => (1u16 << n) - 1,
        };
        let mask = |chunk: usize| if chunk + 1 == chunks { tail } else { 0xffff };
        for (row, out) in x
            .chunks_exact(self.inputs)
            .zip(values.spare_capacity_mut()[..rows * self.padded_inputs].chunks_exact_mut(self.padded_inputs))
        {
            let (mut low, mut high) = (_mm512_setzero_ps(), _mm512_setzero_ps());
            for chunk in 0..chunks {
                let v = _mm512_maskz_loadu_ps(mask(chunk), row.as_ptr().add(chunk * 16));
                low = _mm512_min_ps(low, v);
                high = _mm512_max_ps(high, v);
            }
            let (low, high) = (_mm512_reduce_min_ps(low), _mm512_reduce_max_ps(high));
            let scale = (high - low).max(f32::MIN_POSITIVE) / 255.0;
            let zero = (-low / scale).round().clamp(0.0, 255.0);
            let (inverse, offset) = (_mm512_set1_ps(1.0 / scale), _mm512_set1_ps(zero));
            for chunk in 0..chunks {
                let v = _mm512_maskz_loadu_ps(mask(chunk), row.as_ptr().add(chunk * 16));
                let q =
                    _mm512_max_epi32(_mm512_cvtps_epi32(_mm512_fmadd_ps(v, inverse, offset)), _mm512_setzero_si512());
                _mm512_mask_cvtusepi32_storeu_epi8(out.as_mut_ptr().add(chunk * 16) as *mut _, mask(chunk), q);
            }
            out[self.inputs..].fill(MaybeUninit::new(0));
            scales.push(scale);
            zeros.push(zero as i32);
        }
        // SAFETY: each row's inputs were stored above, and its padding filled.
        unsafe { values.set_len(rows * self.padded_inputs) };
        Quantised { values, scales, zeros }
    }

    /// `y` (the quantised rows' outputs) tile by tile: for each tile of channels, every tile
    /// of rows, so that the tile's weights stay in the first cache levels while rows stream.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    unsafe fn product(&self, quantised: &Quantised, y: &mut [MaybeUninit<f32>]) {
        let rows = quantised.scales.len();
        for first_channel in (0..self.padded_outputs).step_by(CHANNELS * TILE_PANELS) {
            for first_row in (0..rows).step_by(TILE_ROWS) {
                let tile = Tile { first_row, first_channel };
                match rows - first_row {
                    1 => self.tile::<1>(quantised, tile, y),
                    2 => self.tile::<2>(quantised, tile, y),
                    3 => self.tile::<3>(quantised, tile, y),
                    4 => self.tile::<4>(quantised, tile, y),
                    5 => self.tile::<5>(quantised, tile, y),
                    6 => self.tile::<6>(quantised, tile, y),
                    7 => self.tile::<7>(quantised, tile, y),
                    _ => self.tile::<TILE_ROWS>(quantised, tile, y),
                }
            }
        }
    }

    /// `R` rows × 32 channels: accumulates in `i32`, then removes each row's zero-point offset,
    /// scales to f32, adds the bias and stores the channels that exist.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    #[inline]
    unsafe fn tile<const R: usize>(&self, quantised: &Quantised, tile: Tile, y: &mut [MaybeUninit<f32>]) {
        use std::arch::x86_64::*;
        let groups = self.padded_inputs / GROUP;
        let panel = tile.first_channel / CHANNELS;
        let weights: [*const i8; TILE_PANELS] =
            std::array::from_fn(|p| self.packed.as_ptr().add((panel + p) * groups * CHANNELS * GROUP));
        let x = quantised.values.as_ptr().add(tile.first_row * self.padded_inputs);
        let mut acc = [[_mm512_setzero_si512(); TILE_PANELS]; R];
        for group in 0..groups {
            let w: [__m512i; TILE_PANELS] =
                std::array::from_fn(|p| _mm512_loadu_si512(weights[p].add(group * CHANNELS * GROUP) as *const _));
            for (r, row) in acc.iter_mut().enumerate() {
                let a =
                    _mm512_set1_epi32((x.add(r * self.padded_inputs + group * GROUP) as *const i32).read_unaligned());
                for (sum, w) in row.iter_mut().zip(&w) {
                    *sum = _mm512_dpbusd_epi32(*sum, a, *w);
                }
            }
        }
        for (r, row) in acc.iter().enumerate() {
            let token = tile.first_row + r;
            let (zero, scale) = (_mm512_set1_epi32(quantised.zeros[token]), _mm512_set1_ps(quantised.scales[token]));
            for (p, sum) in row.iter().enumerate() {
                let channel = tile.first_channel + p * CHANNELS;
                if channel >= self.outputs {
                    break;
                }
                let offset = _mm512_mullo_epi32(zero, _mm512_loadu_si512(self.sums.as_ptr().add(channel) as *const _));
                let dot = _mm512_cvtepi32_ps(_mm512_sub_epi32(*sum, offset));
                let scales = _mm512_mul_ps(scale, _mm512_loadu_ps(self.scales.as_ptr().add(channel)));
                let value = _mm512_fmadd_ps(dot, scales, _mm512_loadu_ps(self.bias.as_ptr().add(channel)));
                let present: __mmask16 = match self.outputs - channel {
                    n if n >= CHANNELS => 0xffff,
                    n => (1u16 << n) - 1,
                };
                _mm512_mask_storeu_ps(y.as_mut_ptr().cast::<f32>().add(token * self.outputs + channel), present, value);
            }
        }
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn quantise_rows(&self, _x: &[f32]) -> Quantised {
        unreachable!("Int8Dense::new builds a layer only where supported() holds")
    }

    #[cfg(not(target_arch = "x86_64"))]
    unsafe fn product(&self, _quantised: &Quantised, _y: &mut [MaybeUninit<f32>]) {
        unreachable!("Int8Dense::new builds a layer only where supported() holds")
    }
}

/// Where a register tile starts: its first row (token) of the task and first output channel.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Tile {
    first_row: usize,
    first_channel: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_f32_product_within_quantisation_error() {
        // Shapes that leave partial register tiles, partial channel panels, inputs that fill
        // no whole register and several parallel tasks.
        for (rows, inputs, outputs) in [(37, 100, 70), (150, 101, 33), (21, 64, 50), (8, 384, 1152)] {
            check_against_f32(rows, inputs, outputs);
        }
    }

    fn check_against_f32(rows: usize, inputs: usize, outputs: usize) {
        let value = |i: usize| ((i * 7919 % 1000) as f32 / 500.0 - 1.0) * (1.0 + (i % 13) as f32 / 4.0);
        // Rows of every sign: mixed, all positive, all negative (the zero point at each end).
        let x: Vec<f32> = (0..rows * inputs)
            .map(|i| match (i / inputs) % 3 {
                0 => value(i),
                1 => value(i).abs(),
                _ => -value(i).abs(),
            })
            .collect();
        let w: Vec<f32> = (0..outputs * inputs).map(|i| value(i + 17) / 10.0).collect();
        let bias: Vec<f32> = (0..outputs).map(|i| i as f32 / 100.0).collect();
        let Some(layer) = Int8Dense::new(&w, bias.clone(), outputs, inputs) else {
            eprintln!("no AVX-512 VNNI here: nothing to check");
            return;
        };
        let y = layer.forward(&x, rows);
        assert_eq!(y.len(), rows * outputs);
        for r in 0..rows {
            for o in 0..outputs {
                let exact: f32 = (0..inputs).map(|k| x[r * inputs + k] * w[o * inputs + k]).sum::<f32>() + bias[o];
                let scale: f32 = (0..inputs).map(|k| (x[r * inputs + k] * w[o * inputs + k]).abs()).sum();
                let got = y[r * outputs + o];
                assert!(
                    (got - exact).abs() <= 0.02 * scale + 1e-4,
                    "{rows}×{inputs}→{outputs} at {r},{o}: {got} vs {exact}"
                );
            }
        }
    }
}
