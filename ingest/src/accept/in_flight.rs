//! Identical requests in flight in this process: the second waits for the
//! first's outcome instead of racing it to the database and the broker.
//! An entry lives exactly as long as the request holding it, however that
//! request ends, so the map cannot grow with abandoned requests.

use crate::accept::candidate::Accepted;
use common::ids::TenantId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use uuid::Uuid;

/// Tenant, clientOrderId and request hash: what makes two requests identical.
pub type Key = (TenantId, Uuid, [u8; 32]);

type Cells = HashMap<Key, Arc<OnceCell<Accepted>>>;

/// Identical requests in flight in this process, so that the second waits
/// for the first's outcome instead of racing it.
#[derive(Clone, Default)]
pub struct InFlight {
    cells: Arc<Mutex<Cells>>,
}

/// A request's place in the in-flight map, given up when the request is
/// done however it ends: answered, failed, or dropped mid-way (its client
/// hung up, or it ran out of time).
pub struct InFlightEntry {
    map: InFlight,
    key: Key,
    pub cell: Arc<OnceCell<Accepted>>,
}

impl Drop for InFlightEntry {
    fn drop(&mut self) {
        let mut cells = self.map.lock();
        if cells.get(&self.key).is_some_and(|current| Arc::ptr_eq(current, &self.cell)) {
            cells.remove(&self.key);
        }
    }
}

impl InFlight {
    pub fn enter(&self, key: Key) -> InFlightEntry {
        let cell = self.lock().entry(key).or_default().clone();
        InFlightEntry { map: self.clone(), key, cell }
    }

    /// Entries held now (what tests check is back to zero).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cells> {
        self.cells.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
