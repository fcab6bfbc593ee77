//! Stacked and bidirectional sequence driver over the cells; BPTT.
//!
//! `forward` runs `num_layers` layers over a time-major sequence `(T, B, I)`;
//! each layer's directions run concurrently (`rayon::join` on the private
//! pool). Training mode returns a `Cache` that `backward` turns into input,
//! initial-state and (accumulated) parameter gradients. Truncated BPTT is the
//! caller running `forward`/`backward` per chunk with the final state of one
//! chunk as the (detached) initial state of the next.
//!
//! Parameters come as one flat list in torch's order: for each layer, for
//! each direction, `weight_ih, weight_hh, [bias_ih, bias_hh], [weight_hr]`.

pub mod clockwork;
pub mod deep_transition;
mod direction;
pub mod matmul;
pub mod packing;
mod varlen;
mod workspace;

pub use crate::cell::Mode;
use crate::cell::{with_cell, Cell};
use crate::error::{checked_size, try_zeros};
use crate::{Error, Float, Result};
pub(crate) use direction::DirParams;
use direction::{Dims, DirBackward, DirForward, DirGrads};
use packing::Packing;

/// Shape and options of a (stacked, possibly bidirectional) recurrent layer.
#[derive(Clone, Debug, PartialEq)]
pub struct RnnSpec {
    pub mode: Mode,
    pub input_size: usize,
    pub hidden_size: usize,
    pub num_layers: usize,
    pub bidirectional: bool,
    pub bias: bool,
    /// LSTM output projection size (0 = none).
    pub proj_size: usize,
}

/// One parameter array of a layer: torch's name parts and its shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParamSlot {
    pub kind: &'static str,
    pub layer: usize,
    pub reverse: bool,
    dims: [usize; 2],
    ndim: usize,
}

impl ParamSlot {
    fn new(kind: &'static str, layer: usize, reverse: bool, shape: &[usize]) -> Self {
        let mut dims = [0; 2];
        dims[..shape.len()].copy_from_slice(shape);
        ParamSlot { kind, layer, reverse, dims, ndim: shape.len() }
    }
    /// The shape: `(rows, cols)` or `(len,)`.
    pub fn shape(&self) -> &[usize] {
        &self.dims[..self.ndim]
    }
    /// torch's name, e.g. `weight_hh_l0_reverse`.
    pub fn name(&self) -> String {
        let rev = if self.reverse { "_reverse" } else { "" };
        format!("{}_l{}{rev}", self.kind, self.layer)
    }
}

impl RnnSpec {
    /// Checks the options (sizes positive, projection only for LSTM and
    /// smaller than the hidden size, as torch requires).
    pub fn validate(&self) -> Result<()> {
        if self.input_size == 0 {
            return Err(Error::value("input_size", "must be positive"));
        }
        if self.hidden_size == 0 {
            return Err(Error::value("hidden_size", "must be positive"));
        }
        if self.num_layers == 0 {
            return Err(Error::value("num_layers", "must be positive"));
        }
        if self.proj_size > 0 {
            if !self.mode.has_c() {
                return Err(Error::value("proj_size", "is only supported for LSTM"));
            }
            if self.proj_size >= self.hidden_size {
                return Err(Error::value("proj_size", "must be smaller than hidden_size"));
            }
        }
        // Two factors at a time: the error's byte count must not overflow either.
        let gh = checked_size(&[self.hidden_size, self.mode.gates()], "weights")?;
        checked_size(&[gh, self.input_size.max(self.hidden_size.saturating_mul(2))], "weights")?;
        Ok(())
    }
    pub fn num_directions(&self) -> usize {
        if self.bidirectional {
            2
        } else {
            1
        }
    }
    /// Size of the hidden state and of each direction's output.
    pub fn h_out(&self) -> usize {
        if self.proj_size > 0 {
            self.proj_size
        } else {
            self.hidden_size
        }
    }
    pub(crate) fn layer_input(&self, layer: usize) -> usize {
        if layer == 0 {
            self.input_size
        } else {
            self.num_directions() * self.h_out()
        }
    }
    fn params_per_dir(&self) -> usize {
        2 + if self.bias { 2 } else { 0 } + usize::from(self.proj_size > 0) + self.mode.own_params().len()
    }
    /// torch's parameter names and shapes, in torch's order (the GRU
    /// variants have fewer rows: `Mode::in_gates` etc.).
    pub fn param_shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.param_slots().iter().map(|p| (p.name(), p.shape().to_vec())).collect()
    }
    /// The parameters in torch's order, without formatting their names
    /// (a streaming step checks them on every call).
    pub fn param_slots(&self) -> Vec<ParamSlot> {
        let h = self.hidden_size;
        let (gi, gr, gb) =
            (self.mode.in_gates() * h, self.mode.rec_gates() * h, self.mode.bias_hh_gates() * h);
        let mut out = Vec::with_capacity(self.num_layers * self.num_directions() * self.params_per_dir());
        for layer in 0..self.num_layers {
            for dir in 0..self.num_directions() {
                let slot = |kind, dims: &[usize]| ParamSlot::new(kind, layer, dir == 1, dims);
                out.push(slot("weight_ih", &[gi, self.layer_input(layer)]));
                out.push(slot("weight_hh", &[gr, self.h_out()]));
                if self.bias {
                    out.push(slot("bias_ih", &[gi]));
                    out.push(slot("bias_hh", &[gb]));
                }
                if self.proj_size > 0 {
                    out.push(slot("weight_hr", &[self.proj_size, self.hidden_size]));
                }
                // The cell's own parameters (`crate::cell::OwnParam`) last.
                for q in self.mode.own_params() {
                    let dims = if q.rows == 1 { vec![h] } else { vec![q.rows, h] };
                    out.push(slot(q.name, &dims));
                }
            }
        }
        out
    }
    /// Whether a run is too small to gain from threads (or there is one
    /// thread): it then stays on the calling thread, all products serial.
    /// Only the speed depends on this, never the results.
    fn serial(&self, t: usize, b: usize) -> bool {
        const PARALLEL_FROM_MACS: usize = 1 << 23;
        let gh = self.mode.gates() * self.hidden_size;
        let macs = t
            .saturating_mul(b)
            .saturating_mul(gh)
            .saturating_mul(self.input_size.max(self.h_out()) + self.h_out())
            .saturating_mul(self.num_layers * self.num_directions());
        crate::par::num_threads() == 1 || macs < PARALLEL_FROM_MACS
    }
    fn dims(&self, layer: usize, t: usize, b: usize, serial: bool) -> Dims {
        Dims {
            serial,
            t,
            b,
            i: self.layer_input(layer),
            h: self.hidden_size,
            h_out: self.h_out(),
            g: self.mode.gates(),
        }
    }
    pub(crate) fn check_params<T>(&self, params: &[&[T]], arg: &str) -> Result<()> {
        let slots = self.param_slots();
        if params.len() != slots.len() {
            return Err(Error::shape(arg, format!("expected {} arrays, got {}", slots.len(), params.len())));
        }
        for (slot, p) in slots.iter().zip(params) {
            let n: usize = slot.shape().iter().product();
            if p.len() != n {
                return Err(Error::shape(
                    format!("{arg}[{}]", slot.name()),
                    format!("expected shape {:?} ({n} values), got {} values", slot.shape(), p.len()),
                ));
            }
        }
        Ok(())
    }
    pub(crate) fn dir_params<'a, T>(&self, params: &[&'a [T]], layer: usize, dir: usize) -> DirParams<'a, T> {
        let k = self.params_per_dir();
        let p = &params[(layer * self.num_directions() + dir) * k..][..k];
        let (p, own) = p.split_at(k - self.mode.own_params().len());
        DirParams {
            w_ih: p[0],
            w_hh: p[1],
            b_ih: self.bias.then(|| p[2]),
            b_hh: self.bias.then(|| p[3]),
            w_hr: (self.proj_size > 0).then(|| p[p.len() - 1]),
            own: own.to_vec(),
        }
    }
    fn check_state<T>(&self, s: Option<&[T]>, b: usize, width: usize, arg: &str) -> Result<()> {
        let rows = self.num_layers * self.num_directions();
        match s {
            Some(v) if v.len() != rows * b * width => Err(Error::shape(
                arg,
                format!(
                    "expected shape ({rows}, {b}, {width}) ({} values), got {} values",
                    rows * b * width,
                    v.len()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Outputs of a forward run: `y (T, B, D*h_out)`, `h_n (D*L, B, h_out)`,
/// `c_n (D*L, B, H)` (LSTM only; empty otherwise).
#[derive(Debug, Clone)]
pub struct Output<T> {
    pub y: Vec<T>,
    pub h_n: Vec<T>,
    pub c_n: Vec<T>,
}

/// Gradients of a backward run: `dx (T, B, I)`, `dh0 (D*L, B, h_out)`,
/// `dc0 (D*L, B, H)` (LSTM only; empty otherwise).
#[derive(Debug, Clone)]
pub struct Gradients<T> {
    pub dx: Vec<T>,
    pub dh0: Vec<T>,
    pub dc0: Vec<T>,
}

/// What a training forward keeps for `backward`.
pub struct Cache<T: Float> {
    spec: RnnSpec,
    t: usize,
    b: usize,
    /// The batch's lengths, as a packing (the identity without lengths).
    packing: Packing,
    /// Per layer: its input (packed `(rows, I_l)`) and one forward record per direction.
    layers: Vec<(Vec<T>, Vec<DirForward<T>>)>,
}

impl<T: Float> Drop for Cache<T> {
    fn drop(&mut self) {
        for (input, _) in self.layers.drain(..) {
            workspace::recycle(input);
        }
    }
}

impl<T: Float> Cache<T> {
    pub fn spec(&self) -> &RnnSpec {
        &self.spec
    }
    /// Sequence length and batch size of the cached run.
    pub fn seq_batch(&self) -> (usize, usize) {
        (self.t, self.b)
    }
    /// Whether the run had lengths other than the full `T` for every sequence.
    pub fn has_lengths(&self) -> bool {
        !self.packing.is_identity()
    }
}

/// Whether each direction runs serially: `serial`, or two directions run
/// concurrently on a pool of at most two threads (each then has a thread to
/// itself: splitting its steps as well would only add thread barriers and
/// smaller products). Only the speed depends on this, never the results.
fn direction_serial(serial: bool, dirs: usize) -> bool {
    serial || (dirs == 2 && crate::par::num_threads() <= 2)
}

/// Runs `f(0)` and `f(1)` concurrently when there are two directions.
fn per_direction<R: Send>(dirs: usize, serial: bool, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    if dirs == 2 && !serial {
        let (a, b) = rayon::join(|| f(0), || f(1));
        vec![a, b]
    } else if dirs == 2 {
        vec![f(0), f(1)]
    } else {
        vec![f(0)]
    }
}

/// Forward over `x` `(T, B, I)` (time-major). With `train`, also returns the
/// cache `backward` needs; without, only the running state is kept.
#[allow(clippy::too_many_arguments)]
pub fn forward<T: Float>(
    spec: &RnnSpec,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    train: bool,
) -> Result<(Output<T>, Option<Cache<T>>)> {
    forward_with(spec, params, x, t, b, States { h0, c0, mask: None, lengths: None }, train)
}

/// `forward` with variational recurrent dropout: `rec_mask` `(D*L, B, h_out)`
/// (rows ordered like `h0`) multiplies each direction's previous state where
/// it enters the recurrent product `h_{t-1} W_hh^T`, the same mask at every
/// step (Gal & Ghahramani); the outputs, the cell state and the cell's own
/// use of `h_{t-1}` (GRU) are not masked. The mask is kept for `backward`.
#[allow(clippy::too_many_arguments)]
pub fn forward_masked<T: Float>(
    spec: &RnnSpec,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    h0: Option<&[T]>,
    c0: Option<&[T]>,
    rec_mask: Option<&[T]>,
    train: bool,
) -> Result<(Output<T>, Option<Cache<T>>)> {
    let s = States { h0, c0, mask: rec_mask, lengths: None };
    forward_with(spec, params, x, t, b, s, train)
}

/// Optional inputs of a forward run: initial states `(D*L, B, .)`, the
/// recurrent dropout mask (see `forward_masked`) and the sequences' lengths.
#[derive(Clone, Copy, Default)]
pub struct States<'a, T> {
    pub h0: Option<&'a [T]>,
    pub c0: Option<&'a [T]>,
    pub mask: Option<&'a [T]>,
    /// Valid steps of each sequence `(B,)`, each in `1..=T`, any order:
    /// PyTorch's `pack_padded_sequence(enforce_sorted=False)` semantics. The
    /// outputs are zero past each length, `h_n`/`c_n` are each sequence's
    /// state after its own last step, the reverse direction starts at step
    /// `lengths[b] - 1`, and `backward` ignores `dy` at padded steps. Only
    /// the running sequences are computed at each step.
    pub lengths: Option<&'a [usize]>,
}

/// `forward` with all the optional inputs of `States`.
pub fn forward_with<T: Float>(
    spec: &RnnSpec,
    params: &[&[T]],
    x: &[T],
    t: usize,
    b: usize,
    s: States<'_, T>,
    train: bool,
) -> Result<(Output<T>, Option<Cache<T>>)> {
    spec.validate()?;
    spec.check_params(params, "params")?;
    if t == 0 {
        return Err(Error::shape("input", "the sequence is empty (T = 0)"));
    }
    let n_x = checked_size(&[t, b, spec.input_size], "input")?;
    if x.len() != n_x {
        return Err(Error::shape(
            "input",
            format!("expected ({t}, {b}, {}) = {n_x} values, got {}", spec.input_size, x.len()),
        ));
    }
    spec.check_state(s.h0, b, spec.h_out(), "h0")?;
    if spec.mode.has_c() {
        spec.check_state(s.c0, b, spec.hidden_size, "c0")?;
    }
    spec.check_state(s.mask, b, spec.h_out(), "rec_mask")?;
    let pk = match s.lengths {
        Some(l) => Packing::new(l, t, b)?,
        None => Packing::full(t, b),
    };
    let run = || with_cell!(spec.mode, cell => stack_forward(&cell, spec, params, x, &pk, s, train));
    let (out, layers) = if spec.serial(t, b) { run() } else { crate::par::install(run) }?;
    Ok((out, layers.map(|layers| Cache { spec: spec.clone(), t, b, packing: pk, layers })))
}

/// Per layer: its (packed) input and one forward record per direction.
type LayerRecords<T> = Vec<(Vec<T>, Vec<DirForward<T>>)>;

/// The layers over the batch `x` `(T, B, I)`; with lengths the batch is
/// packed once here and unpacked at the end.
fn stack_forward<T: Float, C: Cell<T>>(
    cell: &C,
    spec: &RnnSpec,
    params: &[&[T]],
    x: &[T],
    pk: &Packing,
    s: States<'_, T>,
    train: bool,
) -> Result<(Output<T>, Option<LayerRecords<T>>)> {
    let (t, b) = (pk.steps(), pk.batch());
    let nd = spec.num_directions();
    let (ho, h) = (spec.h_out(), spec.hidden_size);
    let rows = spec.num_layers * nd;
    // Sorted copies of the per-sequence inputs (no copy without lengths).
    let sorted = |v: Option<&[T]>, f: usize| v.filter(|_| !pk.is_identity()).map(|v| pk.sort_rows(v, f));
    let (h0s, c0s, masks) = (sorted(s.h0, ho), sorted(s.c0, h), sorted(s.mask, ho));
    let h0 = h0s.as_deref().or(s.h0);
    let c0 = c0s.as_deref().or(s.c0);
    let mask = masks.as_deref().or(s.mask);
    let packed_x = if pk.is_identity() { None } else { Some(pk.pack(x, spec.input_size, "input")?) };
    let x = packed_x.as_deref().unwrap_or(x);
    let mut h_n = try_zeros(checked_size(&[rows, b, ho], "h_n")?, "h_n")?;
    let mut c_n = try_zeros(if C::HAS_C { checked_size(&[rows, b, h], "c_n")? } else { 0 }, "c_n")?;
    let mut layers = Vec::new();
    let mut input: Vec<T> = Vec::new();
    let serial = spec.serial(t, b);
    for l in 0..spec.num_layers {
        let d = spec.dims(l, t, b, direction_serial(serial, nd));
        let xin: &[T] = if l == 0 { x } else { &input };
        let runs = per_direction(nd, serial, |dir| {
            let row = l * nd + dir;
            let p = spec.dir_params(params, l, dir);
            let h0r = h0.map(|v| &v[row * b * ho..(row + 1) * b * ho]);
            let c0r = c0.filter(|_| C::HAS_C).map(|v| &v[row * b * h..(row + 1) * b * h]);
            let mr = mask.map(|v| &v[row * b * ho..(row + 1) * b * ho]);
            direction::forward(cell, d, pk, &p, xin, h0r, c0r, mr, dir == 1, train)
        });
        let mut runs = runs.into_iter().collect::<Result<Vec<_>>>()?;
        for (dir, run) in runs.iter().enumerate() {
            let row = l * nd + dir;
            h_n[row * b * ho..(row + 1) * b * ho].copy_from_slice(run.h_n());
            if C::HAS_C {
                c_n[row * b * h..(row + 1) * b * h].copy_from_slice(run.c_n());
            }
        }
        // The layer output: the directions' outputs side by side.
        let output = if nd == 1 {
            // The output buffer itself moves on (backward does not read it).
            runs[0].take_outputs()
        } else {
            let mut y = try_zeros(checked_size(&[pk.rows(), nd * ho], "layer output")?, "layer output")?;
            for (r, row) in y.chunks_exact_mut(nd * ho).enumerate() {
                for (dir, run) in runs.iter().enumerate() {
                    row[dir * ho..(dir + 1) * ho].copy_from_slice(&run.outputs()[r * ho..(r + 1) * ho]);
                }
            }
            for run in runs.iter_mut() {
                workspace::recycle(run.take_outputs());
            }
            y
        };
        let layer_input = std::mem::replace(&mut input, output);
        if train {
            let kept = if l == 0 {
                match &packed_x {
                    Some(v) => v.clone(),
                    None => {
                        let mut v = workspace::zeroed(x.len(), "layer input")?;
                        v.copy_from_slice(x);
                        v
                    }
                }
            } else {
                layer_input
            };
            layers.push((kept, runs));
        }
    }
    let (y, h_n, c_n) = if pk.is_identity() {
        (input, h_n, c_n)
    } else {
        let y = pk.unpack(&input, nd * ho, "output")?;
        workspace::recycle(input);
        (y, pk.unsort_rows(&h_n, ho), pk.unsort_rows(&c_n, h))
    };
    Ok((Output { y, h_n, c_n }, train.then_some(layers)))
}

/// BPTT through a cached training run. `dy` `(T, B, D*h_out)`; `dh_n`,
/// `dc_n` optional gradients w.r.t. the final states. Parameter gradients
/// are ADDED to `grads` (same order and shapes as the parameters).
/// With `need_dx` false the input gradient is not computed (`dx` empty).
pub fn backward<T: Float>(
    params: &[&[T]],
    cache: &Cache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    need_dx: bool,
) -> Result<Gradients<T>> {
    let spec = &cache.spec;
    let (t, b) = (cache.t, cache.b);
    spec.check_params(params, "params")?;
    {
        let views: Vec<&[T]> = grads.iter().map(|g| &**g).collect();
        spec.check_params(&views, "grads")?;
    }
    let nd = spec.num_directions();
    let n_dy = t * b * nd * spec.h_out();
    if dy.len() != n_dy {
        return Err(Error::shape(
            "dy",
            format!("expected ({t}, {b}, {}) = {n_dy} values, got {}", nd * spec.h_out(), dy.len()),
        ));
    }
    spec.check_state(dh_n, b, spec.h_out(), "dh_n")?;
    if spec.mode.has_c() {
        spec.check_state(dc_n, b, spec.hidden_size, "dc_n")?;
    }
    // With lengths: the gradients in packed rows and sorted order (padded
    // steps of `dy` are dropped here), and the results back at the end.
    let pk = &cache.packing;
    let (ho, h) = (spec.h_out(), spec.hidden_size);
    let packed_dy = if pk.is_identity() { None } else { Some(pk.pack(dy, nd * ho, "dy")?) };
    let sorted = |v: Option<&[T]>, f: usize| v.filter(|_| !pk.is_identity()).map(|v| pk.sort_rows(v, f));
    let (dh_s, dc_s) = (sorted(dh_n, ho), sorted(dc_n, h));
    let dy = packed_dy.as_deref().unwrap_or(dy);
    let dh_n = dh_s.as_deref().or(dh_n);
    let dc_n = dc_s.as_deref().or(dc_n);
    let mut run = move || with_cell!(spec.mode, cell => stack_backward(&cell, params, cache, dy, dh_n, dc_n, grads, need_dx));
    let g = if spec.serial(t, b) { run() } else { crate::par::install(run) }?;
    if pk.is_identity() {
        return Ok(g);
    }
    let dx = if need_dx { pk.unpack(&g.dx, spec.input_size, "dx")? } else { Vec::new() };
    Ok(Gradients { dx, dh0: pk.unsort_rows(&g.dh0, ho), dc0: pk.unsort_rows(&g.dc0, h) })
}

/// Splits the flat gradient list into one `DirGrads` per (layer, direction).
fn dir_grads<'a, T>(spec: &RnnSpec, grads: &'a mut [&mut [T]]) -> Vec<DirGrads<'a, T>> {
    let (k, n_own) = (spec.params_per_dir(), spec.mode.own_params().len());
    grads
        .chunks_exact_mut(k)
        .map(|g| {
            let (g, own) = g.split_at_mut(k - n_own);
            let own = own.iter_mut().map(|v| &mut **v).collect();
            let mut it = g.iter_mut();
            let w_ih = it.next().map(|v| &mut **v).unwrap_or_default();
            let w_hh = it.next().map(|v| &mut **v).unwrap_or_default();
            let (b_ih, b_hh) = if spec.bias {
                (it.next().map(|v| &mut **v), it.next().map(|v| &mut **v))
            } else {
                (None, None)
            };
            let w_hr = it.next().map(|v| &mut **v);
            DirGrads { w_ih, w_hh, b_ih, b_hh, w_hr, own }
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn stack_backward<T: Float, C: Cell<T>>(
    cell: &C,
    params: &[&[T]],
    cache: &Cache<T>,
    dy: &[T],
    dh_n: Option<&[T]>,
    dc_n: Option<&[T]>,
    grads: &mut [&mut [T]],
    need_dx: bool,
) -> Result<Gradients<T>> {
    let spec = &cache.spec;
    let (t, b) = (cache.t, cache.b);
    let serial = spec.serial(t, b);
    let nd = spec.num_directions();
    let (ho, h) = (spec.h_out(), spec.hidden_size);
    let rows = spec.num_layers * nd;
    let mut dh0 = try_zeros(rows * b * ho, "dh0")?;
    let mut dc0 = try_zeros(if C::HAS_C { rows * b * h } else { 0 }, "dc0")?;
    let mut all_grads = dir_grads(spec, grads);
    let mut dy_l: Vec<T> = Vec::new();
    for l in (0..spec.num_layers).rev() {
        let (xin, runs) = &cache.layers[l];
        let dyl: &[T] = if l + 1 == spec.num_layers { dy } else { &dy_l };
        let g = &mut all_grads[l * nd..(l + 1) * nd];
        let one = |dir: usize, gd: &mut DirGrads<'_, T>| -> Result<DirBackward<T>> {
            let row = l * nd + dir;
            let p = spec.dir_params(params, l, dir);
            let dhn = dh_n.map(|v| &v[row * b * ho..(row + 1) * b * ho]);
            let dcn = dc_n.filter(|_| C::HAS_C).map(|v| &v[row * b * h..(row + 1) * b * h]);
            // Layers above the first always need their input's gradient.
            let dx = need_dx || l > 0;
            let pk = &cache.packing;
            direction::backward(
                cell,
                &p,
                &runs[dir],
                pk,
                xin,
                dyl,
                nd * ho,
                dir * ho,
                dhn,
                dcn,
                gd,
                direction_serial(serial, nd),
                dx,
            )
        };
        let results = if nd == 2 && !serial {
            let (g0, g1) = g.split_at_mut(1);
            let (a, r) = rayon::join(|| one(0, &mut g0[0]), || one(1, &mut g1[0]));
            vec![a?, r?]
        } else {
            let mut v = Vec::with_capacity(nd);
            for (dir, gd) in g.iter_mut().enumerate() {
                v.push(one(dir, gd)?);
            }
            v
        };
        for (dir, r) in results.iter().enumerate() {
            let row = l * nd + dir;
            dh0[row * b * ho..(row + 1) * b * ho].copy_from_slice(&r.dh0);
            if C::HAS_C {
                dc0[row * b * h..(row + 1) * b * h].copy_from_slice(&r.dc0);
            }
        }
        // Input gradient: forward part plus reverse part, in that order.
        let mut it = results.into_iter();
        let mut dx = it.next().map(|r| r.dx).unwrap_or_default();
        for r in it {
            for (a, v) in dx.iter_mut().zip(r.dx) {
                *a += v;
            }
        }
        dy_l = dx;
    }
    Ok(Gradients { dx: dy_l, dh0, dc0 })
}

#[cfg(test)]
mod tests;
