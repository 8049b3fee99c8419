//! Accumulators of one parallel pass (value tables of `stats`, partial results of a sum):
//! each worker takes one, adds what its region holds, and gives it back, so no two workers
//! share one and no lock is held while adding; the pass merges them all at its end.

use std::sync::{Condvar, Mutex, MutexGuard};

/// A pool of at most `limit` accumulators, made as workers first need them.
pub(crate) struct Pool<T> {
    state: Mutex<State<T>>,
    returned: Condvar,
    limit: usize,
}

struct State<T> {
    free: Vec<T>,
    made: usize,
}

impl<T> Pool<T> {
    /// An empty pool that makes at most `limit` (at least one) accumulators; a worker that
    /// finds none free when all are made waits for one.
    pub(crate) fn new(limit: usize) -> Pool<T> {
        Pool {
            state: Mutex::new(State {
                free: Vec::new(),
                made: 0,
            }),
            returned: Condvar::new(),
            limit: limit.max(1),
        }
    }

    /// Run `work` on a free accumulator, made by `make` when none is free and fewer than
    /// the limit exist.
    pub(crate) fn with<R>(&self, make: impl FnOnce() -> T, work: impl FnOnce(&mut T) -> R) -> R {
        let mut taken = {
            let mut state = self.lock();
            loop {
                if let Some(t) = state.free.pop() {
                    break t;
                }
                if state.made < self.limit {
                    state.made += 1;
                    drop(state);
                    break make();
                }
                state = self.returned.wait(state).unwrap_or_else(|p| p.into_inner());
            }
        };
        let result = work(&mut taken);
        self.lock().free.push(taken);
        self.returned.notify_one();
        result
    }

    /// Every accumulator made, once the pass is over.
    pub(crate) fn into_inner(self) -> Vec<T> {
        self.state
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .free
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn workers_share_at_most_the_limit_and_nothing_is_lost() {
        let pool = Pool::new(2);
        let busy = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..6 {
                s.spawn(|| {
                    for _ in 0..200 {
                        pool.with(
                            || 0u64,
                            |n| {
                                let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                                most.fetch_max(now, Ordering::SeqCst);
                                *n += 1;
                                busy.fetch_sub(1, Ordering::SeqCst);
                            },
                        );
                    }
                });
            }
        });
        assert!(most.load(Ordering::SeqCst) <= 2);
        let made = pool.into_inner();
        assert!(!made.is_empty() && made.len() <= 2);
        assert_eq!(made.iter().sum::<u64>(), 1200);
    }
}
