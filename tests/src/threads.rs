//! Running the same work on several cores at once, for the benchmarks
//! that report a rate per core and how it scales.

use std::time::{Duration, Instant};

/// 1, 2, 4, … below the number of available cores, then that number.
pub fn thread_counts() -> Vec<usize> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut counts: Vec<usize> = (0..)
        .map(|k| 1usize << k)
        .take_while(|&n| n < cores)
        .collect();
    counts.push(cores);
    counts
}

/// Runs `work` `iters` times in all, split over as many threads as there
/// are `state`s, each thread owning one (`work` gets the thread's count
/// so far), and returns the wall time.
pub fn on_threads<S: Send>(
    state: &mut [S],
    iters: u64,
    work: impl Fn(&mut S, u64) + Sync,
) -> Duration {
    let threads = state.len() as u64;
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (i, s) in state.iter_mut().enumerate() {
            let share = iters / threads + u64::from((i as u64) < iters % threads);
            let work = &work;
            scope.spawn(move || {
                for n in 0..share {
                    work(s, n);
                }
            });
        }
    });
    start.elapsed()
}
