//! The Python extension module `rnnrs._core`: the only place that uses PyO3.
//! One file per exposed area; each has a `register` function called here.

use pyo3::prelude::*;

pub mod convert;
mod convlstm;
mod dtype;
mod errors;
mod generate;
mod jordan;
mod layers;
mod memory;
mod reservoir;
mod rtrl;
mod rtrl_dense;
mod seq2seq;
mod simd;
mod step;
mod structure;
mod time_cells;
mod train;

/// Sets the number of threads rnnrs computes with (0: the default, from
/// `RNNRS_NUM_THREADS` or the number of cores).
#[pyfunction]
fn set_num_threads(n: i64) -> PyResult<()> {
    let n = usize::try_from(n).map_err(|_| {
        crate::Error::value("n", format!("expected 0 (the default) or a positive number of threads, got {n}"))
    })?;
    crate::par::set_num_threads(n);
    Ok(())
}

/// The number of threads rnnrs computes with.
#[pyfunction]
fn get_num_threads() -> usize {
    crate::par::num_threads()
}

/// Best wall time (seconds) of `reps` float32/float64 products
/// `(m, k) x (k, n)` through rnnrs's own GEMM, on its thread pool: the
/// machine's GEMM throughput that benchmarks compare kernels with.
#[pyfunction]
#[pyo3(signature = (m, k, n, dtype = "float32", reps = 5))]
fn gemm_seconds(py: Python<'_>, m: usize, k: usize, n: usize, dtype: &str, reps: usize) -> PyResult<f64> {
    fn run<T: crate::Float>(m: usize, k: usize, n: usize, reps: usize) -> crate::Result<f64> {
        let size = |r: usize, c: usize, what: &str| crate::error::checked_size(&[r, c], what);
        let a: Vec<T> = crate::error::try_zeros(size(m, k, "a")?, "a")?;
        let b: Vec<T> = crate::error::try_zeros(size(k, n, "b")?, "b")?;
        let mut c: Vec<T> = crate::error::try_zeros(size(m, n, "c")?, "c")?;
        let mut best = f64::INFINITY;
        for _ in 0..reps.max(1) + 1 {
            let t = std::time::Instant::now();
            crate::par::install(|| {
                crate::linalg::gemm(
                    crate::linalg::Parallelism::Pool,
                    &mut c,
                    n,
                    crate::linalg::Op::new(&a, m, k),
                    crate::linalg::Op::new(&b, k, n),
                    T::ONE,
                    false,
                )
            });
            best = best.min(t.elapsed().as_secs_f64());
        }
        Ok(best)
    }
    let secs = match dtype {
        "float32" => py.detach(|| run::<f32>(m, k, n, reps))?,
        "float64" => py.detach(|| run::<f64>(m, k, n, reps))?,
        _ => {
            return Err(crate::Error::value(
                "dtype",
                format!("expected 'float32' or 'float64', got {dtype:?}"),
            )
            .into())
        }
    };
    Ok(secs)
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::install_interrupt_hook();
    m.add_function(wrap_pyfunction!(set_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(get_num_threads, m)?)?;
    m.add_function(wrap_pyfunction!(gemm_seconds, m)?)?;
    layers::register(m)?;
    train::register(m)?;
    reservoir::register(m)?;
    rtrl::register(m)?;
    seq2seq::register(m)?;
    memory::register(m)?;
    structure::register(m)?;
    simd::register(m)?;
    time_cells::register(m)?;
    jordan::register(m)?;
    convlstm::register(m)?;
    generate::register(m)?;
    step::register(m)?;
    Ok(())
}
