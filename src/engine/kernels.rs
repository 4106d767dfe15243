//! The encoder's CPU kernels besides the dense layers: exact GELU, self-attention, and the
//! residual sum with its layer norm.
//!
//! In candle these run as several passes, some on one thread, with scalar `exp` calls: a
//! profile of the int8 encoder (benches/RESULTS.md) put more time in them, in `expf` and in
//! threads waiting at candle's barriers than in the dense layers. Here each is one parallel pass
//! on rayon (candle's element-wise sums run on a pool of their own, whose threads then spin
//! against rayon's on the same cores), whose loops LLVM vectorises: the binary targets baseline
//! x86-64, so `widest!` compiles them for AVX-512 and AVX2 too and picks what the CPU has, and
//! [`exp`] is arithmetic LLVM can widen. Outputs are not zeroed before the kernels write them.

use std::mem::MaybeUninit;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, DType, Layout, Module, Shape, Tensor};
use candle_nn::LayerNorm;
use rayon::prelude::*;

/// The f32 values of a contiguous CPU tensor, or the error the custom op `op` gives otherwise.
pub(super) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(values) = storage else { candle_core::bail!("{op}: f32 only") };
    let Some((start, end)) = layout.contiguous_offsets() else { candle_core::bail!("{op}: contiguous input only") };
    Ok(&values[start..end])
}

/// `len` values that `write` puts in place, without zeroing them first (zeroing the
/// encoder's outputs was a tenth of its time in a profile).
///
/// # Safety
/// `write` initialises every slot of the slice it is given.
unsafe fn filled<T>(len: usize, write: impl FnOnce(&mut [MaybeUninit<T>])) -> Vec<T> {
    let mut values = Vec::with_capacity(len);
    write(&mut values.spare_capacity_mut()[..len]);
    values.set_len(len);
    values
}

/// Exact GELU, x·Φ(x), as one parallel pass over a contiguous f32 tensor on the CPU; other
/// devices and types use candle's own.
pub(super) fn gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        x.apply_op1_no_bwd(&Gelu)
    } else {
        x.gelu_erf()
    }
}

struct Gelu;

/// Elements per parallel task: enough to amortise scheduling.
const GELU_CHUNK: usize = 16 * 1024;

impl CustomOp1 for Gelu {
    fn name(&self) -> &'static str {
        "verbatim-gelu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, "gelu")?;
        // SAFETY: `gelu_of` writes every slot.
        let out = unsafe {
            filled(input.len(), |out| {
                out.par_chunks_mut(GELU_CHUNK)
                    .zip(input.par_chunks(GELU_CHUNK))
                    .for_each(|(out, input)| gelu_widest(input, out))
            })
        };
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

/// Multi-head self-attention over the fused query-key-value projection (`tokens × 3·hidden`,
/// the query already scaled by 1/√head size), giving `tokens × hidden` with the heads side by
/// side: one parallel task per sequence, its products read straight from the projection's
/// columns (no transposed copies), and padded keys skipped rather than masked (their weight
/// after softmax is 0 either way).
pub(super) struct Attention {
    heads: usize,
    length: usize,
    /// Per sequence, how many of its first positions are tokens (the rest is padding).
    tokens: Vec<usize>,
}

impl Attention {
    /// The op for `mask` (`[batch, length]`, 1 for tokens) where the encoder runs on the CPU;
    /// `None` on other devices. The padding must be on the right, as the tokenizer puts it.
    pub fn over(mask: &Tensor, heads: usize) -> candle_core::Result<Option<Attention>> {
        if !mask.device().is_cpu() {
            return Ok(None);
        }
        let rows = mask.to_dtype(DType::U8)?.to_vec2::<u8>()?;
        let length = rows.first().map_or(0, Vec::len);
        let mut tokens = Vec::with_capacity(rows.len());
        for row in &rows {
            let n = row.iter().take_while(|&&m| m != 0).count();
            if row[n..].iter().any(|&m| m != 0) {
                candle_core::bail!("attention: the mask must be ones then zeros (padding on the right)")
            }
            tokens.push(n);
        }
        Ok(Some(Attention { heads, length, tokens }))
    }
}

impl CustomOp1 for Attention {
    fn name(&self) -> &'static str {
        "verbatim-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let values = contiguous_f32(storage, layout, "attention")?;
        let (tokens, width) = layout.shape().dims2()?;
        let (hidden, length) = (width / 3, self.length);
        if width % 3 != 0 || hidden % self.heads != 0 || tokens != self.tokens.len() * length {
            candle_core::bail!("attention: {tokens}×{width} does not fit {} sequences of {length}", self.tokens.len())
        }
        // SAFETY: each sequence's rows are written, by `attend` or as zeros (with no sequence
        // there are no rows).
        let out = unsafe {
            filled(tokens * hidden, |out| {
                if length > 0 {
                    out.par_chunks_mut(length * hidden)
                        .zip(values.par_chunks(length * width))
                        .zip(&self.tokens)
                        .for_each(|((out, qkv), &keys)| match keys {
                            0 => out.fill(MaybeUninit::new(0.0)),
                            _ => attend(qkv, out, length, keys, self.heads),
                        })
                }
            })
        };
        Ok((CpuStorage::F32(out), Shape::from((tokens, hidden))))
    }
}

/// One sequence of `length` positions, every head: `softmax(q kᵀ) v` over its first `keys`
/// positions, from `qkv` (`length × 3·hidden`) into every slot of `out` (`length × hidden`).
/// Both products read strided views of the projection, on this thread: the sequences are the
/// parallel tasks.
fn attend(qkv: &[f32], out: &mut [MaybeUninit<f32>], length: usize, keys: usize, heads: usize) {
    let hidden = out.len() / length;
    let (width, size) = (3 * hidden, hidden / heads);
    assert!(qkv.len() == length * width && keys <= length && size * heads == hidden);
    let mut scores = vec![0f32; length * keys];
    let rows = |at: usize, stride: usize| Strided { at, row: stride, column: 1 };
    for head in 0..heads {
        let (q_at, k_at, v_at) = (head * size, hidden + head * size, 2 * hidden + head * size);
        // SAFETY: each view stays inside its slice: rows below `length` (keys below `keys`),
        // columns inside this head's `size` columns of q, k, v or out, as asserted above.
        unsafe {
            // scores (length × keys) = q (length × size) · kᵀ (size × keys)
            let keys_t = Strided { at: k_at, row: 1, column: width };
            product(
                (length, keys, size),
                (scores.as_mut_ptr(), rows(0, keys)),
                (qkv, rows(q_at, width)),
                (qkv, keys_t),
            );
            softmax_rows_widest(&mut scores, keys);
            // out's head columns (length × size) = softmax (length × keys) · v (keys × size)
            let out = (out.as_mut_ptr().cast::<f32>(), rows(head * size, hidden));
            product((length, size, keys), out, (&scores, rows(0, keys)), (qkv, rows(v_at, width)));
        }
    }
}

/// Where a matrix starts in its buffer, and the steps to its next row and next column.
#[derive(Clone, Copy)]
struct Strided {
    at: usize,
    row: usize,
    column: usize,
}

/// `dst = lhs · rhs` (`m × n` from `m × k` and `k × n`) through `gemm`, on this thread.
///
/// # Safety
/// Every element each view addresses lies inside its buffer (for `dst`, the buffer it points into).
unsafe fn product(
    (m, n, k): (usize, usize, usize),
    (dst, d): (*mut f32, Strided),
    (lhs, l): (&[f32], Strided),
    (rhs, r): (&[f32], Strided),
) {
    let stride = |s: usize| s as isize;
    gemm::gemm(
        m,
        n,
        k,
        dst.add(d.at),
        stride(d.column),
        stride(d.row),
        false,
        lhs.as_ptr().add(l.at),
        stride(l.column),
        stride(l.row),
        rhs.as_ptr().add(r.at),
        stride(r.column),
        stride(r.row),
        0.0,
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// Each row of `scores` (`width` wide) to its softmax.
#[inline(always)]
fn softmax_rows(scores: &mut [f32], width: usize) {
    for row in scores.chunks_exact_mut(width) {
        let max = lane_max(row);
        for score in row.iter_mut() {
            *score = exp(*score - max);
        }
        let norm = 1.0 / lane_sum(row, |v| v);
        for score in row.iter_mut() {
            *score *= norm;
        }
    }
}

/// `LayerNorm(x + residual)`, the end of each half of a BERT layer: on the CPU one parallel
/// pass over the rows, elsewhere candle's sum and layer norm.
pub(super) struct AddNorm {
    norm: LayerNorm,
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

/// Rows per parallel task of [`AddNorm`].
const NORM_ROWS: usize = 16;

impl AddNorm {
    pub fn new(weight: Tensor, bias: Tensor, eps: f64) -> candle_core::Result<AddNorm> {
        let (w, b) = (weight.to_dtype(DType::F32)?.to_vec1()?, bias.to_dtype(DType::F32)?.to_vec1()?);
        Ok(AddNorm { norm: LayerNorm::new(weight, bias, eps), weight: w, bias: b, eps: eps as f32 })
    }

    /// `LayerNorm` alone, for the embeddings' sum.
    pub fn norm(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.norm.forward(x)
    }

    /// `LayerNorm(x + residual)` over `tokens × hidden` tensors.
    pub fn forward(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 && residual.dtype() == DType::F32 {
            x.contiguous()?.apply_op2_no_bwd(&residual.contiguous()?, self)
        } else {
            self.norm.forward(&(x + residual)?)
        }
    }
}

impl CustomOp2 for AddNorm {
    fn name(&self) -> &'static str {
        "verbatim-add-norm"
    }

    fn cpu_fwd(
        &self,
        x: &CpuStorage,
        x_layout: &Layout,
        residual: &CpuStorage,
        residual_layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, residual) =
            (contiguous_f32(x, x_layout, "add-norm")?, contiguous_f32(residual, residual_layout, "add-norm")?);
        let hidden = self.weight.len();
        if x.len() != residual.len() || x.len() % hidden != 0 || x_layout.shape() != residual_layout.shape() {
            candle_core::bail!("add-norm: {:?} + {:?} over rows of {hidden}", x_layout.shape(), residual_layout.shape())
        }
        // SAFETY: `add_norm` writes every slot.
        let out = unsafe {
            filled(x.len(), |out| {
                out.par_chunks_mut(NORM_ROWS * hidden)
                    .zip(x.par_chunks(NORM_ROWS * hidden).zip(residual.par_chunks(NORM_ROWS * hidden)))
                    .for_each(|(out, (x, residual))| {
                        add_norm_widest(x, residual, out, &self.weight, &self.bias, self.eps)
                    })
            })
        };
        Ok((CpuStorage::F32(out), x_layout.shape().clone()))
    }
}

/// `out = (s − mean(s)) / √(var(s) + eps) · weight + bias` for each row `s = x + residual`.
#[inline(always)]
fn add_norm(x: &[f32], residual: &[f32], out: &mut [MaybeUninit<f32>], weight: &[f32], bias: &[f32], eps: f32) {
    let hidden = weight.len();
    let mut sum = vec![0f32; hidden];
    for ((x, residual), out) in
        x.chunks_exact(hidden).zip(residual.chunks_exact(hidden)).zip(out.chunks_exact_mut(hidden))
    {
        for ((s, &a), &b) in sum.iter_mut().zip(x).zip(residual) {
            *s = a + b;
        }
        let mean = lane_sum(&sum, |v| v) / hidden as f32;
        let variance = lane_sum(&sum, |v| (v - mean) * (v - mean)) / hidden as f32;
        let inverse = 1.0 / (variance + eps).sqrt();
        for (((o, &s), &w), &b) in out.iter_mut().zip(&sum).zip(weight).zip(bias) {
            o.write((s - mean) * inverse * w + b);
        }
    }
}

/// Σ f(v) over `values`, summed in 16 interleaved lanes so that LLVM vectorises it (a single
/// running sum fixes the order of the additions and keeps it scalar).
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane += f(v);
        }
    }
    lanes.iter().sum::<f32>() + chunks.remainder().iter().map(|&v| f(v)).sum::<f32>()
}

/// The largest of `values`, in 16 lanes for the same reason as [`lane_sum`].
#[inline(always)]
fn lane_max(values: &[f32]) -> f32 {
    let mut lanes = [f32::NEG_INFINITY; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = if v > *lane { v } else { *lane };
        }
    }
    lanes.iter().chain(chunks.remainder()).fold(f32::NEG_INFINITY, |m, &v| if v > m { v } else { m })
}

/// `fn $name(args)` runs `$kernel` (an `#[inline(always)]` function) compiled for the widest
/// vectors this CPU has: AVX-512, else AVX2 with FMA, else baseline x86-64. The target
/// features apply to the wrapper the kernel is inlined into, so LLVM vectorises its loops.
macro_rules! widest {
    ($(#[$doc:meta])* fn $name:ident => $kernel:ident($($arg:ident: $ty:ty),*)) => {
        $(#[$doc])*
        fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f,avx2,fma")]
                unsafe fn avx512($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) {
                    $kernel($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: the CPU has the features `avx512` is compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above, for `avx2`.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $kernel($($arg),*)
        }
    };
}

widest! {
    /// [`gelu_of`] at the CPU's widest vectors.
    fn gelu_widest => gelu_of(input: &[f32], out: &mut [MaybeUninit<f32>])
}

widest! {
    /// [`add_norm`] at the CPU's widest vectors.
    fn add_norm_widest => add_norm(x: &[f32], residual: &[f32], out: &mut [MaybeUninit<f32>], weight: &[f32], bias: &[f32], eps: f32)
}

widest! {
    /// [`softmax_rows`] at the CPU's widest vectors.
    fn softmax_rows_widest => softmax_rows(scores: &mut [f32], width: usize)
}

/// Exact GELU of each input, into every slot of `out`.
#[inline(always)]
fn gelu_of(input: &[f32], out: &mut [MaybeUninit<f32>]) {
    for (o, &x) in out.iter_mut().zip(input) {
        o.write(0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2)));
    }
}

/// erf to within 1.5e-7 (Abramowitz and Stegun 7.1.26), one `exp` and no branches but the sign.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t * (0.254_829_6 + t * (-0.284_496_74 + t * (1.421_413_8 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp(-a * a);
    y.copysign(x)
}

/// eˣ within 4e-7 relative (a few ulp) for x in [-87, 88]: 0 below, as softmax and erf need,
/// e⁸⁸ above, NaN for NaN. As arithmetic that vectorises: x = n·ln 2 + r with |r| ≤ ln 2 / 2
/// (ln 2 split in two for exactness), eʳ by its degree-6 Taylor polynomial, 2ⁿ built in the
/// exponent bits.
#[inline(always)]
fn exp(x: f32) -> f32 {
    const LN2_HIGH: f32 = 0.693_145_75;
    const LN2_LOW: f32 = 1.428_606_8e-6;
    if x < -87.0 {
        return 0.0;
    }
    let x = if x > 88.0 { 88.0 } else { x };
    let n = (x * std::f32::consts::LOG2_E).round();
    let r = x - n * LN2_HIGH - n * LN2_LOW;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    p * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_a_few_ulp_of_the_standard_library() {
        for i in -87_000..88_000 {
            let x = i as f32 / 1000.0;
            let (ours, std) = (exp(x), x.exp());
            assert!(((ours - std) / std).abs() < 4e-7, "exp({x}) = {ours} vs {std}");
        }
        assert_eq!(exp(-1e9), 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn erf_is_within_its_documented_error() {
        // Reference values of erf.
        for (x, expected) in
            [(0.0f32, 0.0f32), (0.5, 0.520_499_9), (1.0, 0.842_700_8), (-2.0, -0.995_322_3), (3.5, 0.999_999_3)]
        {
            assert!((erf(x) - expected).abs() < 3e-7, "erf({x}) = {} vs {expected}", erf(x));
        }
    }

    #[test]
    fn gelu_op_matches_candles_exact_gelu() {
        let values: Vec<f32> = (0..40_000).map(|i| (i as f32 - 20_000.0) / 2_000.0).collect();
        let x = Tensor::from_vec(values, 40_000, &candle_core::Device::Cpu).unwrap();
        let ours = gelu(&x).unwrap().to_vec1::<f32>().unwrap();
        let candle = x.gelu_erf().unwrap().to_vec1::<f32>().unwrap();
        let worst = ours.iter().zip(&candle).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        assert!(worst < 1e-5, "{worst}");
    }

    #[test]
    fn add_norm_matches_candles_sum_and_layer_norm() {
        use candle_core::Device;
        let (rows, hidden) = (37, 40);
        let value = |i: usize, p: usize| ((i * p % 1009) as f32 / 504.5 - 1.0) * 3.0;
        let tensor = |p: usize, n: usize, shape: (usize, usize)| {
            Tensor::from_vec((0..n).map(|i| value(i, p)).collect::<Vec<f32>>(), shape, &Device::Cpu).unwrap()
        };
        let (x, residual) =
            (tensor(7919, rows * hidden, (rows, hidden)), tensor(104_729, rows * hidden, (rows, hidden)));
        let (weight, bias) =
            (tensor(31, hidden, (1, hidden)).squeeze(0).unwrap(), tensor(37, hidden, (1, hidden)).squeeze(0).unwrap());
        let op = AddNorm::new(weight.clone(), bias.clone(), 1e-12).unwrap();
        let ours = op.forward(&x, &residual).unwrap().to_vec2::<f32>().unwrap();
        let reference = LayerNorm::new(weight, bias, 1e-12).forward(&(x + residual).unwrap()).unwrap();
        for (a, b) in ours.iter().flatten().zip(reference.to_vec2::<f32>().unwrap().iter().flatten()) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    /// The fused op against candle's own operations on the same projection, four heads: short
    /// sequences (gemm's small-matrix path), and sequences as long as reviews (its packed path,
    /// more keys than a register's lanes), padded and not; a sequence with no token gives zeros.
    #[test]
    fn attention_matches_candles_masked_softmax_attention() {
        check_attention(7, &[7, 4]);
        check_attention(45, &[45, 30, 0]);
        let holed = Tensor::from_vec(vec![1u8, 0, 1], (1, 3), &candle_core::Device::Cpu).unwrap();
        assert!(Attention::over(&holed, 4).is_err(), "padding inside a sequence is refused");
    }

    fn check_attention(length: usize, tokens: &[usize]) {
        use candle_core::Device;
        let (batch, heads, size) = (tokens.len(), 4, 8);
        let hidden = heads * size;
        let values: Vec<f32> =
            (0..batch * length * 3 * hidden).map(|i| (i * 7919 % 997) as f32 / 498.5 - 1.0).collect();
        let qkv = Tensor::from_vec(values, (batch * length, 3 * hidden), &Device::Cpu).unwrap();
        let attended: Vec<f32> =
            tokens.iter().flat_map(|&n| (0..length).map(move |j| if j < n { 1.0 } else { 0.0 })).collect();
        let mask: Vec<f32> = attended.iter().map(|&a| if a > 0.0 { 0.0 } else { -1e9 }).collect();
        let attended = Tensor::from_vec(attended, (batch, length), &Device::Cpu).unwrap();
        let op = Attention::over(&attended, heads).unwrap().unwrap();
        let ours = qkv.apply_op1_no_bwd(&op).unwrap().to_vec2::<f32>().unwrap();

        let mask = Tensor::from_vec(mask, (batch, 1, 1, length), &Device::Cpu).unwrap();
        let split = qkv.reshape((batch, length, 3, heads, size)).unwrap().permute((2, 0, 3, 1, 4)).unwrap();
        let split = split.contiguous().unwrap();
        let (q, k, v) = (split.get(0).unwrap(), split.get(1).unwrap(), split.get(2).unwrap());
        let scores = q.matmul(&k.t().unwrap()).unwrap().broadcast_add(&mask).unwrap();
        let reference = candle_nn::ops::softmax_last_dim(&scores).unwrap().matmul(&v).unwrap();
        let reference = reference.transpose(1, 2).unwrap().contiguous().unwrap().reshape((batch * length, hidden));
        let reference = reference.unwrap().to_vec2::<f32>().unwrap();

        for (row, (ours, reference)) in ours.iter().zip(&reference).enumerate() {
            for (a, b) in ours.iter().zip(reference) {
                let expected = if tokens[row / length] == 0 { 0.0 } else { *b };
                assert!((a - expected).abs() < 1e-5, "length {length}, row {row}: {a} vs {expected}");
            }
        }
    }
}
