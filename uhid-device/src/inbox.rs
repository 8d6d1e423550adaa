//! The uhid reader's hand-off to the device driver, built so the reader
//! never waits for another thread.
//!
//! The reader runs at a real-time priority; any lock it shared with an
//! ordinary thread (a channel's mutex, the async runtime's wake-up queue,
//! the allocator's) could be held by that thread when the reader needs it,
//! and the reader would then wait for as long as the ordinary thread waits
//! for the CPU: on a loaded machine, long enough for the kernel's queue of
//! 32 reports to overflow. So reports go into a fixed-size lock-free queue
//! (allocated once) and the driver is woken through an eventfd, whose
//! counter the kernel keeps under a spinlock.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;
use tokio::io::unix::AsyncFd;

/// How many events the queue holds: 8,192 reports are 64 maximum-size
/// messages that the driver has not taken yet.
pub(crate) const CAPACITY: usize = 8192;

struct Shared<T> {
    queue: ArrayQueue<T>,
    /// Counts pushes the receiver has not seen; readable while non-zero.
    wake: OwnedFd,
    /// Set when the receiver is dropped.
    closed: AtomicBool,
}

/// The sending half: [`Sender::push`] takes no lock and does not allocate.
pub(crate) struct Sender<T>(Arc<Shared<T>>);

/// The receiving half, for the async driver.
pub(crate) struct Receiver<T> {
    shared: Arc<Shared<T>>,
    wake: AsyncFd<OwnedFd>,
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("inbox::Receiver")
            .field("queued", &self.shared.queue.len())
            .finish()
    }
}

/// A new inbox. Must be called inside a Tokio runtime (the receiver
/// registers its eventfd with the reactor).
pub(crate) fn inbox<T>(capacity: usize) -> io::Result<(Sender<T>, Receiver<T>)> {
    // SAFETY: eventfd has no memory-safety preconditions; the result is
    // checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a freshly created descriptor that nothing else owns.
    let wake = unsafe { OwnedFd::from_raw_fd(fd) };
    let shared = Arc::new(Shared {
        queue: ArrayQueue::new(capacity),
        wake,
        closed: AtomicBool::new(false),
    });
    // The receiver's own descriptor of the same eventfd.
    let mine = shared.wake.try_clone()?;
    // SAFETY: `mine` is an open descriptor the AsyncFd takes ownership of;
    // it stays open, and its `as_raw_fd` the same, until the AsyncFd drops.
    let wake = unsafe { AsyncFd::register_with_interest(mine, tokio::io::Interest::READABLE) }
        .map_err(io::Error::from)?;
    let receiver = Receiver {
        shared: shared.clone(),
        wake,
    };
    Ok((Sender(shared), receiver))
}

impl<T> Sender<T> {
    /// Queues `item` and wakes the receiver. When the queue is full the
    /// item comes back (the caller decides whether to wait).
    pub(crate) fn push(&self, item: T) -> Result<(), T> {
        self.0.queue.push(item)?;
        let one = 1u64.to_ne_bytes();
        // SAFETY: writes 8 bytes from a live buffer to a descriptor the
        // shared state owns. An eventfd write fails only when the counter
        // would overflow 2^64 - 2, which pushes cannot reach.
        let _ = unsafe { libc::write(self.0.wake.as_raw_fd(), one.as_ptr().cast(), one.len()) };
        Ok(())
    }

    /// Whether the receiver is gone.
    pub(crate) fn is_closed(&self) -> bool {
        self.0.closed.load(Ordering::Relaxed)
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> Receiver<T> {
    /// The next item. Cancel-safe: an item is taken only when it is
    /// returned.
    pub(crate) async fn recv(&mut self) -> io::Result<T> {
        loop {
            if let Some(item) = self.shared.queue.pop() {
                return Ok(item);
            }
            let mut ready = self.wake.readable().await?;
            let mut counter = [0u8; 8];
            // Reset the counter; a push after this wakes us again, and one
            // before it is popped on the next turn.
            let read = ready.try_io(|fd: &AsyncFd<OwnedFd>| {
                // SAFETY: reads at most 8 bytes into a live 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), counter.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            match read {
                Ok(Ok(())) | Err(_) => {}
                Ok(Err(e)) => return Err(e),
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        self.shared.closed.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn items_arrive_in_order_from_another_thread() {
        let (tx, mut rx) = inbox::<u32>(CAPACITY).expect("inbox");
        let t = std::thread::spawn(move || {
            for i in 0..20_000u32 {
                let mut item = i;
                // Wait while the queue is full, as the uhid reader does.
                while let Err(back) = tx.push(item) {
                    item = back;
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        });
        for i in 0..20_000u32 {
            assert_eq!(rx.recv().await.ok(), Some(i));
        }
        t.join().expect("sender");
    }

    #[tokio::test]
    async fn a_full_queue_hands_the_item_back_and_drop_is_seen() {
        let (tx, rx) = inbox::<u8>(2).expect("inbox");
        assert!(tx.push(1).is_ok());
        assert!(tx.push(2).is_ok());
        assert_eq!(tx.push(3), Err(3));
        assert!(!tx.is_closed());
        drop(rx);
        assert!(tx.is_closed());
    }

    #[tokio::test]
    async fn recv_is_cancel_safe() {
        let (tx, mut rx) = inbox::<u8>(4).expect("inbox");
        // A recv that is dropped before anything came takes nothing.
        let waited = tokio::time::timeout(std::time::Duration::from_millis(20), rx.recv()).await;
        assert!(waited.is_err());
        assert!(tx.push(7).is_ok());
        assert_eq!(rx.recv().await.ok(), Some(7));
    }
}
