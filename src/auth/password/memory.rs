//! argon2's working memory (`memory_kib` per hash), kept between hashes while logins keep
//! coming. Allocating it fresh for every hash made each hash about 1.5-2x slower: the kernel
//! has to fault in and zero every page of the block (measured in bench/README.md).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use argon2::Block;

/// Memory for one hash at a time; grows to the block count each hash needs.
#[derive(Default)]
pub struct WorkingMemory(Vec<Block>);

impl WorkingMemory {
    pub(super) fn blocks(&mut self, count: usize) -> &mut [Block] {
        self.0.resize(count, Block::new());
        &mut self.0
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn capacity(&self) -> usize {
        self.0.capacity()
    }
}

/// At most one `WorkingMemory` per hash that may run at once (the hasher's permits bound how
/// many are out). Everything is let go when the last waiting or running hash is done, so an
/// idle server holds none: blocks this large are mmapped (see `cli::tune_allocator`) and go
/// straight back to the kernel, which zeroes them before anyone else sees them.
#[derive(Clone)]
pub struct MemoryPool {
    inner: Arc<Inner>,
}

struct Inner {
    blocks_per_hash: usize,
    free: Mutex<Vec<WorkingMemory>>,
    /// Hashes waiting for a permit or running.
    demand: AtomicUsize,
}

impl MemoryPool {
    pub fn new(blocks_per_hash: usize) -> Self {
        MemoryPool {
            inner: Arc::new(Inner {
                blocks_per_hash,
                free: Mutex::new(Vec::new()),
                demand: AtomicUsize::new(0),
            }),
        }
    }

    /// Counts one more hash in demand until the returned guard is dropped.
    pub fn demand(&self) -> Demand {
        self.inner.demand.fetch_add(1, Ordering::AcqRel);
        Demand { pool: self.clone() }
    }

    pub fn take(&self) -> WorkingMemory {
        self.free().pop().unwrap_or_default()
    }

    /// Keeps memory of the usual size for the next hash; memory sized for a stored hash with
    /// other parameters is let go. By capacity too: a larger stored hash (Django's argon2 is
    /// 100 MiB) followed by the upgrade's hash at the usual size keeps the larger allocation.
    pub fn put_back(&self, memory: WorkingMemory) {
        if memory.len() == self.inner.blocks_per_hash
            && memory.capacity() == self.inner.blocks_per_hash
        {
            self.free().push(memory);
        }
    }

    fn free(&self) -> std::sync::MutexGuard<'_, Vec<WorkingMemory>> {
        self.inner
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

pub struct Demand {
    pool: MemoryPool,
}

impl Drop for Demand {
    fn drop(&mut self) {
        if self.pool.inner.demand.fetch_sub(1, Ordering::AcqRel) == 1 {
            let released = std::mem::take(&mut *self.pool.free());
            drop(released);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_reused_while_in_demand_and_let_go_after() {
        let pool = MemoryPool::new(8);
        let first = pool.demand();
        let second = pool.demand();
        let mut memory = pool.take();
        memory.blocks(8);
        pool.put_back(memory);
        drop(first);
        assert_eq!(pool.free().len(), 1, "kept while another hash is in demand");
        assert_eq!(pool.take().len(), 8, "the kept memory is handed out again");
        let mut memory = WorkingMemory::default();
        memory.blocks(8);
        pool.put_back(memory);
        drop(second);
        assert_eq!(pool.free().len(), 0, "let go when nothing is in demand");
    }

    #[test]
    fn memory_of_another_size_is_not_kept() {
        let pool = MemoryPool::new(8);
        let _demand = pool.demand();
        let mut memory = pool.take();
        memory.blocks(16);
        pool.put_back(memory);
        assert_eq!(pool.free().len(), 0);
    }

    #[test]
    fn memory_grown_for_another_hash_is_not_kept_at_the_usual_length() {
        let pool = MemoryPool::new(8);
        let _demand = pool.demand();
        let mut memory = pool.take();
        memory.blocks(16);
        memory.blocks(8);
        pool.put_back(memory);
        assert_eq!(pool.free().len(), 0);
    }
}
