//! The encoder's reusable pixel buffers: one process-wide pool whose cap the memory level sets.
//!
//! Every capture allocates the same tier sizes again, and fresh pages cost a page fault each:
//! ~4,000 faults (2-3 ms, 10 % of all four tiers) per 2880x1800 call once other code has
//! returned the heap's free pages to the system. Pillow keeps an image arena for the same
//! reason. What is kept is memory the process holds for nothing in between, so the pool has a
//! cap in bytes: high when memory is plentiful, none at all under pressure. Lowering the cap
//! frees what is held beyond it at once; the counters say how often the pool served a buffer and
//! how much it gave back.

use parking_lot::Mutex;

/// What the pool holds and has done since the process started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BufferStats {
    /// The most bytes the pool may keep.
    pub cap_bytes: usize,
    /// Bytes kept now (buffer capacities), and in how many buffers.
    pub held_bytes: usize,
    pub held_buffers: usize,
    /// Requests served from the pool, and requests that had to allocate.
    pub reused: u64,
    pub allocated: u64,
    /// Buffers handed back that were kept, and those freed because the cap was reached.
    pub kept: u64,
    pub dropped: u64,
    /// Bytes freed by a release or a lowered cap.
    pub released_bytes: u64,
}

/// A pool of byte buffers under a cap.
pub struct BufferPool {
    state: Mutex<PoolState>,
}

struct PoolState {
    buffers: Vec<Vec<u8>>,
    stats: BufferStats,
}

impl BufferPool {
    pub const fn new(cap_bytes: usize) -> Self {
        BufferPool {
            state: Mutex::new(PoolState {
                buffers: Vec::new(),
                stats: BufferStats {
                    cap_bytes,
                    held_bytes: 0,
                    held_buffers: 0,
                    reused: 0,
                    allocated: 0,
                    kept: 0,
                    dropped: 0,
                    released_bytes: 0,
                },
            }),
        }
    }

    /// A buffer of `len` bytes, from the pool when one is large enough (the smallest such).
    pub fn take(&self, len: usize) -> Vec<u8> {
        let reused = {
            let mut state = self.state.lock();
            let best = (0..state.buffers.len())
                .filter(|&i| state.buffers[i].capacity() >= len)
                .min_by_key(|&i| state.buffers[i].capacity());
            let found = best.map(|i| state.buffers.swap_remove(i));
            match &found {
                Some(buf) => {
                    state.stats.reused += 1;
                    state.stats.held_bytes -= buf.capacity();
                    state.stats.held_buffers -= 1;
                }
                None => state.stats.allocated += 1,
            }
            found
        };
        match reused {
            Some(mut buf) => {
                // Old pixels stay in the kept part; every byte is overwritten by the resize.
                buf.resize(len, 0);
                buf
            }
            None => vec![0u8; len],
        }
    }

    /// Keeps `buf` for a later `take`, or frees it (outside the lock) when it would pass the cap.
    pub fn give(&self, buf: Vec<u8>) {
        let mut state = self.state.lock();
        if state.stats.held_bytes + buf.capacity() <= state.stats.cap_bytes {
            state.stats.held_bytes += buf.capacity();
            state.stats.held_buffers += 1;
            state.stats.kept += 1;
            state.buffers.push(buf);
            return;
        }
        state.stats.dropped += 1;
        drop(state);
        drop(buf);
    }

    /// Frees every kept buffer now (the cap stays); returns the bytes freed.
    pub fn release(&self) -> usize {
        self.trim_to(0)
    }

    /// Sets the cap and frees at once what is kept beyond it, largest buffers first (the fewest
    /// frees to get under it); returns the bytes freed.
    pub fn set_cap(&self, cap_bytes: usize) -> usize {
        self.state.lock().stats.cap_bytes = cap_bytes;
        self.trim_to(cap_bytes)
    }

    pub fn cap(&self) -> usize {
        self.state.lock().stats.cap_bytes
    }

    pub fn stats(&self) -> BufferStats {
        self.state.lock().stats
    }

    fn trim_to(&self, bytes: usize) -> usize {
        let freed: Vec<Vec<u8>> = {
            let mut state = self.state.lock();
            state.buffers.sort_by_key(Vec::capacity);
            let mut freed = Vec::new();
            while state.stats.held_bytes > bytes {
                let Some(buf) = state.buffers.pop() else {
                    break;
                };
                state.stats.held_bytes -= buf.capacity();
                state.stats.held_buffers -= 1;
                freed.push(buf);
            }
            let total: usize = freed.iter().map(Vec::capacity).sum();
            state.stats.released_bytes += total as u64;
            freed
        };
        // Freed outside the lock: munmap of large buffers takes a while.
        freed.iter().map(Vec::capacity).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_best_fit_and_counted() {
        let pool = BufferPool::new(4096);
        let first = pool.take(1000);
        let ptr = first.as_ptr();
        pool.give(first);
        pool.give(vec![0u8; 3000]);
        let again = pool.take(800); // best fit: the 1000-byte allocation, shortened
        assert_eq!((again.as_ptr(), again.len()), (ptr, 800));
        pool.give(again);
        pool.give(vec![0u8; 200]); // over the cap (1000 + 3000 + 200 > 4096): freed, not kept
        let s = pool.stats();
        assert_eq!((s.held_bytes, s.held_buffers), (4000, 2));
        assert_eq!((s.reused, s.allocated, s.kept, s.dropped), (1, 1, 3, 1));
        assert_eq!(pool.release(), 4000);
        assert_eq!(pool.release(), 0);
        assert_eq!(pool.stats().released_bytes, 4000);
        assert_eq!(pool.cap(), 4096, "a release keeps the cap");
    }

    #[test]
    fn a_lowered_cap_frees_the_excess_at_once_largest_first() {
        let pool = BufferPool::new(10_000);
        for len in [1000, 4000, 2000] {
            pool.give(vec![0u8; len]);
        }
        assert_eq!(
            pool.set_cap(3500),
            4000,
            "the 4000-byte buffer alone gets it under"
        );
        let s = pool.stats();
        assert_eq!((s.cap_bytes, s.held_bytes, s.held_buffers), (3500, 3000, 2));
        assert_eq!(pool.set_cap(0), 3000);
        pool.give(vec![0u8; 1]);
        let s = pool.stats();
        assert_eq!(
            (s.held_bytes, s.dropped),
            (0, 1),
            "a zero cap keeps nothing"
        );
        assert_eq!(pool.set_cap(8000), 0, "raising the cap frees nothing");
        pool.give(vec![0u8; 5000]);
        assert_eq!(pool.stats().held_bytes, 5000);
    }
}
