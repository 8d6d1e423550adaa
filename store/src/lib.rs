//! `fidosim-store`: the durable state of one device: a redb file holding its master secret,
//! credentials, signature counters, device state (PIN, settings), large-blob
//! array and attestation identities.
//!
//! [`DurableStore`] keeps a copy of everything in a [`MemoryStore`], so reads
//! never touch the disk. Every change is first committed to the file (redb
//! `Durability::Immediate`: written and fsynced) and only then applied to
//! the copy; a failed commit changes nothing and the authenticator answers
//! CTAP1_ERR_OTHER. The authenticator sends a response only after the store
//! call returned, so whatever a client was told survives `kill -9`.
//!
//! Signature counters are reserved ahead in blocks of [`COUNTER_BLOCK`]:
//! the file holds, per counter, a value no lower than any value signed so
//! far, and a commit happens only when a counter passes it. After a crash
//! the device continues from the reserved value: counters may jump forward
//! (by less than a block), never back. A store that is dropped (a clean
//! shutdown) writes the exact values back, so a restart makes no jump.
//!
//! ```text
//!   authenticator-core ── CredentialStore trait ──► DurableStore ──► redb file
//!                                                    └─ MemoryStore copy (reads)
//! ```
//!
//! Depends on `authenticator-core` (the trait it implements and the types
//! it stores) and on nothing of the daemon, the transports or the CLI: a
//! test, a tool or an offline command opens a state file with this crate
//! alone.

mod codec;

use std::collections::HashMap;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use authenticator_core::crypto::sha256;
use authenticator_core::store::{
    CounterScope, Credential, CredentialStore, DeviceState, MemoryStore, StoreError, User,
};
use authenticator_core::AttestationIdentity;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};
use zeroize::Zeroizing;

/// The schema this build writes. A file records the version it was
/// written with; [`migrate`] upgrades older ones, newer ones are refused.
pub const SCHEMA_VERSION: u32 = 2;

/// How far ahead a signature counter is reserved on disk.
pub const COUNTER_BLOCK: u32 = 32;

/// Small values: schema version, master secret, device state, large-blob
/// array, attestation identities.
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Stored credentials by credential ID.
const CREDENTIALS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("credentials");
/// Reserved signature counter values by scope (see [`scope_key`]).
const COUNTERS: TableDefinition<&[u8], u32> = TableDefinition::new("counters");

const K_SCHEMA: &str = "schema_version";
const K_MASTER: &str = "master_secret";
const K_STATE: &str = "device_state";
const K_LARGE_BLOB: &str = "large_blob_array";
/// The creation order the next saved credential gets (u64, little endian;
/// schema 2).
const K_NEXT_ORDER: &str = "next_credential_order";
/// Prefix of attestation identity keys; the suffix names the identity.
const K_IDENTITY: &str = "identity/";

/// Why a state file cannot be used. Each message says what to do.
#[derive(Debug)]
pub struct OpenError(pub String);

impl std::fmt::Display for OpenError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The default place of state files: `$XDG_DATA_HOME/fidosim`, else
/// `$HOME/.local/share/fidosim`.
pub fn default_dir() -> Result<PathBuf, OpenError> {
    if let Some(d) = std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(d).join("fidosim"));
    }
    if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        return Ok(PathBuf::from(h).join(".local/share/fidosim"));
    }
    Err(OpenError(
        "neither XDG_DATA_HOME nor HOME is set, so there is no default place for the state: \
         pass --state PATH (or --ephemeral)"
            .into(),
    ))
}

fn scope_key(scope: &CounterScope) -> Vec<u8> {
    match scope {
        CounterScope::Global => b"global".to_vec(),
        CounterScope::Credential(h) => h.to_vec(),
    }
}

fn scope_of(key: &[u8]) -> Option<CounterScope> {
    match key {
        b"global" => Some(CounterScope::Global),
        k => <[u8; 32]>::try_from(k).ok().map(CounterScope::Credential),
    }
}

/// A redb error, boxed (redb's error type is large).
struct DbError(Box<redb::Error>);

impl<E: Into<redb::Error>> From<E> for DbError {
    fn from(e: E) -> Self {
        Self(Box::new(e.into()))
    }
}

impl std::fmt::Display for DbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

fn backend<E: std::fmt::Display>(e: E) -> StoreError {
    tracing::error!(error = %e, "state file: a write failed; nothing was changed");
    StoreError::Backend
}

/// Upgrades a file written with schema `from` (older than
/// [`SCHEMA_VERSION`]) inside the opening transaction, which commits only
/// when every step succeeded: one step per version.
fn migrate(from: u32, txn: &redb::WriteTransaction, shown: &str) -> Result<(), OpenError> {
    let mut version = from;
    if version == 1 {
        migrate_1_to_2(txn, shown)?;
        version = 2;
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    Err(OpenError(format!(
        "the state file {shown} has schema version {from}, which has no upgrade path in this build \
         (it knows {SCHEMA_VERSION}); the file was left untouched: use the fidosim that wrote it, or another --state PATH"
    )))
}

/// Schema 1 → 2: credentials get a creation order that survives restarts.
/// Schema 1 kept each credential's creation time on the clock of the
/// process that made it, which started again at 0 with every process; the
/// upgrade numbers the credentials in the order of those times (ties, and
/// times from different processes, by credential ID). That is the order
/// schema 1 offered them in, so a device upgraded in place signs with the
/// same credential as before; the order becomes exact from then on.
fn migrate_1_to_2(txn: &redb::WriteTransaction, shown: &str) -> Result<(), OpenError> {
    let fail = |e: &dyn std::fmt::Display| {
        OpenError(format!(
            "cannot upgrade the state file {shown} from schema 1 to 2 ({e}); it was left untouched: \
             use the fidosim that wrote it, or another --state PATH"
        ))
    };
    let mut table = txn.open_table(CREDENTIALS).map_err(|e| fail(&e))?;
    let mut creds = Vec::new();
    for row in table.iter().map_err(|e| fail(&e))? {
        let (k, v) = row.map_err(|e| fail(&e))?;
        let c =
            codec::decode_credential_v1(v.value()).map_err(|_| fail(&"a damaged credential"))?;
        if c.id.as_slice() != k.value() {
            return Err(fail(&"a credential stored under another ID"));
        }
        creds.push(c);
    }
    creds.sort_by(|a, b| (a.created_order, &a.id).cmp(&(b.created_order, &b.id)));
    let mut order = 0u64;
    for mut c in creds {
        order += 1;
        c.created_order = order;
        let record = codec::encode_credential(&c);
        table
            .insert(c.id.as_slice(), record.as_slice())
            .map_err(|e| fail(&e))?;
    }
    txn.open_table(META)
        .map_err(|e| fail(&e))?
        .insert(K_NEXT_ORDER, (order + 1).to_le_bytes().as_slice())
        .map_err(|e| fail(&e))?;
    Ok(())
}

/// The text of a caught panic.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic inside redb".to_owned())
}

/// redb 2.6's file header (its `page_store/header.rs`): the magic number,
/// then at these offsets little-endian u32s and the region tracker's page
/// number, then two 128-byte commit slots at 64 and 192, each with three
/// optional B-tree roots (a non-null byte at 1, 2, 3; the root's page
/// number at 8, 40, 72).
mod redb_header {
    pub(super) const MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];
    pub(super) const LEN: usize = 320;
    pub(super) const PAGE_SIZE: usize = 12;
    pub(super) const REGION_HEADER_PAGES: usize = 16;
    pub(super) const REGION_MAX_DATA_PAGES: usize = 20;
    pub(super) const FULL_REGIONS: usize = 24;
    pub(super) const TRAILING_REGION_PAGES: usize = 28;
    pub(super) const REGION_TRACKER: usize = 32;
    pub(super) const SLOTS: [usize; 2] = [64, 192];
    pub(super) const ROOTS: [(usize, usize); 3] = [(1, 8), (2, 40), (3, 72)];
    /// The only page size redb writes (and the one it asserts on open).
    pub(super) const REDB_PAGE_SIZE: u32 = 4096;
    /// redb's largest page order (`MAX_MAX_PAGE_ORDER`): a region holds at
    /// most 2^20 pages.
    pub(super) const MAX_ORDER: u32 = 20;
}

/// Checks what redb 2.6 trusts in a file's header before it opens it:
/// the page size, the region geometry, and that the file is as long as
/// the layout the header declares and holds the pages it points at (the
/// region tracker and the commit slots' B-tree roots).
///
/// redb asserts on these instead of returning an error (a file shorter
/// than its declared layout panics in `TransactionalMemory::new`), and
/// sizes buffers by them: a page number with a large order makes it
/// allocate up to 2^31 pages at once, which aborts the process, and a
/// huge region size makes it build allocators for billions of pages during
/// the opening commit. A panic can be caught (see [`DurableStore::open`]),
/// an aborted allocation cannot, so these are refused up front
/// ([`BoundedFile`] refuses the reads past the end of the file that page
/// references deeper in the file ask for). A file that does not start with redb's magic number passes: redb refuses it
/// itself, with an error.
fn check_redb_header(file: &fs::File, len: u64) -> Result<(), String> {
    use redb_header as h;
    let mut header = [0u8; h::LEN];
    let n = file
        .read_at(&mut header, 0)
        .map_err(|e| format!("cannot read its header: {e}"))?;
    if n < h::MAGIC.len() || header[..h::MAGIC.len()] != h::MAGIC {
        return Ok(());
    }
    if len < h::LEN as u64 || n < h::LEN {
        return Err(format!("{len} bytes, shorter than a redb header"));
    }
    let u32_at = |at: usize| {
        u32::from_le_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&header[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let page_size = u32_at(h::PAGE_SIZE);
    if page_size != h::REDB_PAGE_SIZE {
        return Err(format!("the header declares pages of {page_size} bytes"));
    }
    let page = u128::from(page_size);
    let header_pages = u32_at(h::REGION_HEADER_PAGES);
    let max_pages = u32_at(h::REGION_MAX_DATA_PAGES);
    let full_regions = u32_at(h::FULL_REGIONS);
    let trailing = u32_at(h::TRAILING_REGION_PAGES);
    if max_pages == 0
        || max_pages > 1 << h::MAX_ORDER
        || header_pages > max_pages
        || trailing > max_pages
    {
        return Err(format!(
            "the header declares regions of {max_pages} pages with {header_pages} header pages \
             and a last region of {trailing}"
        ));
    }
    let regions = u128::from(full_regions) + u128::from(trailing > 0);
    if regions == 0 {
        return Err("the header declares no region".into());
    }
    let region_len = (u128::from(header_pages) + u128::from(max_pages)) * page;
    let trailing_len = if trailing > 0 {
        (u128::from(header_pages) + u128::from(trailing)) * page
    } else {
        0
    };
    let layout_len = page + u128::from(full_regions) * region_len + trailing_len;
    if layout_len > u128::from(len) {
        return Err(format!(
            "{len} bytes, but its header declares {layout_len}: the file was cut short"
        ));
    }
    // A page number: order in the top 5 bits, region in bits 20..40, the
    // index in the low 20 bits (redb's `PageNumber::from_le_bytes`).
    let within = |raw: u64, what: &str| -> Result<(), String> {
        let order = u32::try_from(raw >> 59).unwrap_or(u32::MAX);
        let region = u128::from((raw >> 20) & 0x000F_FFFF);
        let index = u128::from(raw & (0x000F_FFFF >> order.min(20)));
        let pages = 1u128 << order.min(63);
        let start =
            page + region * region_len + u128::from(header_pages) * page + index * pages * page;
        let end = start + pages * page;
        if order > h::MAX_ORDER || region >= regions || end > u128::from(len) {
            return Err(format!("its {what} points past the end of the file"));
        }
        Ok(())
    };
    within(u64_at(h::REGION_TRACKER), "region tracker")?;
    for slot in h::SLOTS {
        for (flag, at) in h::ROOTS {
            if header[slot + flag] != 0 {
                within(u64_at(slot + at), "B-tree root")?;
            }
        }
    }
    Ok(())
}

/// redb's file backend, refusing a read past the end of the file before
/// redb allocates the buffer for it.
///
/// redb reads a page into a buffer of the size its page number's order
/// says (`vec![0; len]`, then `read_exact_at`), so a damaged page
/// reference inside a B-tree, which [`check_redb_header`] cannot see,
/// made it ask for up to 2^31 pages (8 TiB) and abort the process: the
/// allocation fails before the read could. Such a read could only fail
/// anyway (past the end of the file); this makes it an I/O error redb
/// returns.
#[derive(Debug)]
struct BoundedFile(redb::backends::FileBackend);

impl redb::StorageBackend for BoundedFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, std::io::Error> {
        let end = u64::try_from(len)
            .ok()
            .and_then(|len| offset.checked_add(len));
        match end {
            Some(end) if end <= self.0.len()? => self.0.read(offset, len),
            _ => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                format!("a read of {len} bytes at {offset} past the end of the file"),
            )),
        }
    }

    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self, eventual: bool) -> Result<(), std::io::Error> {
        self.0.sync_data(eventual)
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        self.0.write(offset, data)
    }
}

/// Opens (or, for an empty file, creates) the database in `file` through
/// [`BoundedFile`]; the file lock is redb's, as with `Builder::open`.
fn open_bounded(file: fs::File) -> Result<Database, redb::DatabaseError> {
    let backend = redb::backends::FileBackend::new(file)?;
    Database::builder().create_with_backend(BoundedFile(backend))
}

/// A device's state in a redb file.
///
/// redb panics on some damaged files (assertions on page contents and
/// allocator state, while opening, writing or closing): the store keeps
/// such a panic inside with `catch_unwind` around every call into redb
/// and turns it into an error ([`OpenError`] naming the file when
/// opening, [`StoreError::Backend`] for a write), so that a damaged or
/// hostile file can fail a device but not take the daemon down. After a
/// contained panic the database is no longer trusted: further writes fail
/// without calling redb. [`check_redb_header`] refuses, before redb sees
/// the file, what would make it abort instead of panic.
pub struct DurableStore {
    /// `None` only while being dropped.
    db: Option<Database>,
    /// A call into redb panicked: redb's state is no longer trusted.
    broken: std::sync::atomic::AtomicBool,
    path: PathBuf,
    mem: MemoryStore,
    /// Per counter, the value reserved on disk.
    reserved: HashMap<CounterScope, u32>,
}

impl Drop for DurableStore {
    /// A clean shutdown: the counters go back from their reservations to
    /// the values signed last, so that a restart continues without a jump.
    /// Counters only ever move down to a value already handed out, so a
    /// failure here loses nothing: the reservations stay, as after a crash.
    fn drop(&mut self) {
        self.write_exact_counters();
        // redb writes its allocator state when the database is dropped,
        // which can panic too on a damaged file.
        if let Some(db) = self.db.take() {
            if catch_unwind(AssertUnwindSafe(move || drop(db))).is_err() {
                tracing::warn!(
                    "{}: closing the state file failed; it may need repair when next opened",
                    self.path.display()
                );
            }
        }
    }
}

impl DurableStore {
    fn write_exact_counters(&mut self) {
        if std::thread::panicking() || self.broken.load(std::sync::atomic::Ordering::Relaxed) {
            return;
        }
        let exact: Vec<(CounterScope, u32)> = self
            .reserved
            .iter()
            .filter_map(|(scope, &reserved)| {
                let value = self.mem.counter(*scope).ok()?;
                (value < reserved).then_some((*scope, value))
            })
            .collect();
        if exact.is_empty() {
            return;
        }
        let result = self.write(|txn| {
            let mut table = txn.open_table(COUNTERS)?;
            for (scope, value) in &exact {
                table.insert(scope_key(scope).as_slice(), *value)?;
            }
            Ok(())
        });
        if result.is_err() {
            tracing::warn!(
                "{}: could not write the exact counters at shutdown; \
                 they continue from their reservations (at most {COUNTER_BLOCK} ahead)",
                self.path.display()
            );
        }
    }
}

impl std::fmt::Debug for DurableStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl DurableStore {
    /// Opens the state file at `path`, creating it (mode 0600, and its
    /// directory with mode 0700) when missing. A damaged file, a file of
    /// another program, one written by a newer fidosim or one in use by
    /// another process is refused with a message, and left as it is.
    pub fn open(path: &Path) -> Result<Self, OpenError> {
        let shown = path.display();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            if !dir.exists() {
                fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(|e| {
                        OpenError(format!(
                            "cannot create the state directory {}: {e}; choose another place with --state PATH",
                            dir.display()
                        ))
                    })?;
            }
        }
        let db = if path.exists() {
            if path.is_dir() {
                return Err(OpenError(format!(
                    "--state {shown} is a directory; give a file path (it is created when missing)"
                )));
            }
            if let Err(e) = OpenOptions::new().read(true).write(true).open(path) {
                if e.kind() == std::io::ErrorKind::PermissionDenied {
                    return Err(OpenError(format!(
                        "cannot open the state file {shown}: permission denied; run as the file's owner, or pass another --state PATH"
                    )));
                }
            }
            if let Ok(meta) = fs::metadata(path) {
                if meta.permissions().mode() & 0o077 != 0 {
                    tracing::warn!(path = %shown, "the state file is readable by other users; it holds private keys (chmod 600 it)");
                }
            }
            let checked = fs::File::open(path)
                .and_then(|f| Ok((f.metadata()?.len(), f)))
                .map_err(|e| e.to_string())
                .and_then(|(len, f)| check_redb_header(&f, len));
            if let Err(why) = checked {
                return Err(OpenError(format!(
                    "the state file {shown} is damaged or is not a fidosim state file ({why}); \
                     it was left untouched: move it away to start afresh, or pass another --state PATH"
                )));
            }
            // redb's `Builder::open` refuses an empty file; the bounded
            // backend goes through `create_with_backend`, which would
            // make a new database in it, so that stays refused here.
            let file = match OpenOptions::new().read(true).write(true).open(path) {
                Ok(f) if f.metadata().map(|m| m.len()).unwrap_or(0) == 0 => {
                    return Err(OpenError(format!(
                        "the state file {shown} is damaged or is not a fidosim state file (it is empty); \
                         it was left untouched: move it away to start afresh, or pass another --state PATH"
                    )))
                }
                Ok(f) => f,
                Err(e) => {
                    return Err(OpenError(format!(
                        "cannot open the state file {shown}: {e}; pass another --state PATH"
                    )))
                }
            };
            Self::contained_open(path, || open_bounded(file))
        } else {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| {
                    OpenError(format!(
                        "cannot create the state file {shown}: {e}; choose another place with --state PATH"
                    ))
                })?;
            Self::contained_open(path, || open_bounded(file))
        }?
        .map_err(|e| match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError(format!(
                "the state file {shown} is in use by another process (another fidosim?); \
                 stop it, or give this device its own --state PATH"
            )),
            redb::DatabaseError::UpgradeRequired(v) => OpenError(format!(
                "the state file {shown} uses redb file format {v}, which this build cannot read; \
                 it was left untouched: use the fidosim that wrote it, or another --state PATH"
            )),
            other => OpenError(format!(
                "the state file {shown} is damaged or is not a fidosim state file ({other}); \
                 it was left untouched: move it away to start afresh, or pass another --state PATH"
            )),
        })?;
        let mut store = Self {
            db: Some(db),
            broken: std::sync::atomic::AtomicBool::new(false),
            path: path.to_path_buf(),
            mem: MemoryStore::default(),
            reserved: HashMap::new(),
        };
        let checked = Self::contained_open(path, || {
            store.check_schema()?;
            store.load()
        });
        if let Err(e) = checked.and_then(|r| r) {
            store
                .broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
            return Err(e);
        }
        Ok(store)
    }

    /// Runs `f` (a step of opening the file at `path`), turning a panic
    /// inside redb into an [`OpenError`] naming the file.
    fn contained_open<T>(path: &Path, f: impl FnOnce() -> T) -> Result<T, OpenError> {
        catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
            OpenError(format!(
                "the state file {} is damaged or is not a fidosim state file \
                 (redb failed reading it: {}); move it away to start afresh, or pass another --state PATH",
                path.display(),
                panic_text(p.as_ref())
            ))
        })
    }

    /// The database (present until the store is dropped).
    fn db(&self) -> Result<&Database, StoreError> {
        self.db.as_ref().ok_or(StoreError::Backend)
    }

    /// Reads the schema version: writes it into a new file, upgrades an
    /// older one, refuses a newer one or a file with data but no version.
    fn check_schema(&mut self) -> Result<(), OpenError> {
        let shown = self.path.display().to_string();
        let damaged = |e: &dyn std::fmt::Display| {
            OpenError(format!(
                "the state file {shown} cannot be read ({e}); it was left untouched: \
                 move it away to start afresh"
            ))
        };
        let txn = self
            .db()
            .map_err(|e| damaged(&format!("{e:?}")))?
            .begin_write()
            .map_err(|e| damaged(&e))?;
        let (version, empty) = {
            let meta = txn.open_table(META).map_err(|e| damaged(&e))?;
            let version = match meta.get(K_SCHEMA).map_err(|e| damaged(&e))? {
                Some(v) => {
                    let bytes: [u8; 4] = v
                        .value()
                        .try_into()
                        .map_err(|_| damaged(&"the schema version is not a 32-bit number"))?;
                    Some(u32::from_le_bytes(bytes))
                }
                None => None,
            };
            (version, meta.len().map_err(|e| damaged(&e))? == 0)
        };
        match version {
            None if !empty => return Err(damaged(&"it has data but no schema version")),
            Some(v) if v > SCHEMA_VERSION => {
                return Err(OpenError(format!(
                    "the state file {shown} was written by a newer fidosim (schema {v}; this build knows {SCHEMA_VERSION}); \
                     it was left untouched: use the newer fidosim, or another --state PATH"
                )));
            }
            Some(v) if v < SCHEMA_VERSION => migrate(v, &txn, &shown)?,
            _ => {}
        }
        if version != Some(SCHEMA_VERSION) {
            txn.open_table(META)
                .map_err(|e| damaged(&e))?
                .insert(K_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())
                .map_err(|e| damaged(&e))?;
        }
        // Make sure every table exists, so that readers need no special case.
        txn.open_table(CREDENTIALS).map_err(|e| damaged(&e))?;
        txn.open_table(COUNTERS).map_err(|e| damaged(&e))?;
        txn.commit().map_err(|e| damaged(&e))
    }

    /// Loads everything into the in-memory copy.
    fn load(&mut self) -> Result<(), OpenError> {
        let shown = self.path.display().to_string();
        let damaged = |what: &str| {
            OpenError(format!(
                "the state file {shown} is damaged ({what}); it was left untouched: \
                 move it away to start afresh"
            ))
        };
        let txn = self
            .db()
            .map_err(|e| damaged(&format!("{e:?}")))?
            .begin_read()
            .map_err(|e| damaged(&e.to_string()))?;
        let meta = txn.open_table(META).map_err(|e| damaged(&e.to_string()))?;
        let get = |k: &str| -> Result<Option<Vec<u8>>, OpenError> {
            Ok(meta
                .get(k)
                .map_err(|e| damaged(&e.to_string()))?
                .map(|v| v.value().to_vec()))
        };
        if let Some(m) = get(K_MASTER)? {
            let m: [u8; 32] = m
                .try_into()
                .map_err(|_| damaged("the master secret is not 32 bytes"))?;
            let _ = self.mem.set_master_secret(&m);
        }
        if let Some(s) = get(K_STATE)? {
            let s = codec::decode_device_state(&s).map_err(|_| damaged("device state"))?;
            let _ = self.mem.set_device_state(&s);
        }
        if let Some(b) = get(K_LARGE_BLOB)? {
            let _ = self.mem.set_large_blob_array(&b);
        }
        if let Some(n) = get(K_NEXT_ORDER)? {
            let n: [u8; 8] = n
                .try_into()
                .map_err(|_| damaged("the next creation order is not a 64-bit number"))?;
            self.mem.raise_next_creation_order(u64::from_le_bytes(n));
        }
        let creds = txn
            .open_table(CREDENTIALS)
            .map_err(|e| damaged(&e.to_string()))?;
        for row in creds.iter().map_err(|e| damaged(&e.to_string()))? {
            let (k, v) = row.map_err(|e| damaged(&e.to_string()))?;
            let c = codec::decode_credential(v.value()).map_err(|_| damaged("a credential"))?;
            // Every write goes to the row of the credential's ID: a record
            // under another key would be left behind by them and come back
            // after a restart.
            if c.id.as_slice() != k.value() {
                return Err(damaged("a credential stored under another ID"));
            }
            self.mem
                .save_ordered(c, None, 0)
                .map_err(|_| damaged("more discoverable credentials than fit"))?;
        }
        let counters = txn
            .open_table(COUNTERS)
            .map_err(|e| damaged(&e.to_string()))?;
        for row in counters.iter().map_err(|e| damaged(&e.to_string()))? {
            let (k, v) = row.map_err(|e| damaged(&e.to_string()))?;
            let scope = scope_of(k.value()).ok_or_else(|| damaged("a counter key"))?;
            let value = v.value();
            // Continue from the reserved value: never below anything signed.
            let _ = self.mem.next_counter(scope, value);
            self.reserved.insert(scope, value);
        }
        Ok(())
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` in a write transaction and commits it.
    fn write(
        &self,
        f: impl FnOnce(&redb::WriteTransaction) -> Result<(), DbError>,
    ) -> Result<(), StoreError> {
        if self.broken.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(StoreError::Backend);
        }
        let db = self.db()?;
        catch_unwind(AssertUnwindSafe(|| {
            let txn = db.begin_write().map_err(backend)?;
            f(&txn).map_err(backend)?;
            txn.commit().map_err(backend)
        }))
        .unwrap_or_else(|p| {
            self.broken
                .store(true, std::sync::atomic::Ordering::Relaxed);
            Err(backend(format!(
                "{}: redb failed ({}); the file is damaged, no further writes are tried",
                self.path.display(),
                panic_text(p.as_ref())
            )))
        })
    }

    /// The attestation identity stored under `name`, or a new one from
    /// `make`, stored first: a device keeps its certificates across
    /// restarts.
    pub fn identity(
        &mut self,
        name: &str,
        make: impl FnOnce() -> Result<AttestationIdentity, String>,
    ) -> Result<AttestationIdentity, String> {
        let key = format!("{K_IDENTITY}{name}");
        let read = || -> Result<Option<Vec<u8>>, String> {
            let db = self.db().map_err(|e| format!("{e:?}"))?;
            catch_unwind(AssertUnwindSafe(|| -> Result<_, DbError> {
                let txn = db.begin_read()?;
                let meta = txn.open_table(META)?;
                Ok(meta.get(key.as_str())?.map(|v| v.value().to_vec()))
            }))
            .map_err(|p| panic_text(p.as_ref()))?
            .map_err(|e| e.to_string())
        };
        let stored = read().map_err(|e| {
            format!(
                "cannot read the {name} attestation identity from {} ({e}); move the file away to start afresh, or pass another --state PATH",
                self.path.display()
            )
        })?;
        if let Some(bytes) = stored {
            return codec::decode_identity(&bytes).map_err(|_| {
                format!(
                    "the {name} attestation identity in {} is damaged; move the file away to start afresh",
                    self.path.display()
                )
            });
        }
        let identity = make()?;
        let bytes = codec::encode_identity(&identity);
        self.write(|txn| {
            txn.open_table(META)?
                .insert(key.as_str(), bytes.as_slice())?;
            Ok(())
        })
        .map_err(|_| {
            format!(
                "cannot write the {name} attestation identity to {}; check its permissions and its disk's free space, or pass --ephemeral",
                self.path.display()
            )
        })?;
        Ok(identity)
    }
}

impl CredentialStore for DurableStore {
    fn master_secret(&self) -> Result<Option<Zeroizing<[u8; 32]>>, StoreError> {
        self.mem.master_secret()
    }

    fn set_master_secret(&mut self, secret: &[u8; 32]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(META)?.insert(K_MASTER, secret.as_slice())?;
            Ok(())
        })?;
        self.mem.set_master_secret(secret)
    }

    fn discoverable(&self, rp_id_hash: &[u8; 32]) -> Result<Vec<Credential>, StoreError> {
        self.mem.discoverable(rp_id_hash)
    }

    fn discoverable_for_user(
        &self,
        rp_id_hash: &[u8; 32],
        user_id: &[u8],
    ) -> Result<Option<Credential>, StoreError> {
        self.mem.discoverable_for_user(rp_id_hash, user_id)
    }

    fn get(&self, id: &[u8]) -> Result<Option<Credential>, StoreError> {
        self.mem.get(id)
    }

    fn save(
        &mut self,
        credential: Credential,
        replacing: Option<&[u8]>,
        initial_counter: u32,
    ) -> Result<(), StoreError> {
        // The same room check as the in-memory copy, before anything is
        // written.
        let frees = replacing.is_some_and(|id| self.mem.get(id).ok().flatten().is_some())
            || self.mem.get(&credential.id)?.is_some();
        if credential.discoverable && !frees && self.mem.remaining_discoverable()? == 0 {
            return Err(StoreError::Full);
        }
        // The credential becomes the newest; the next order is kept in the
        // same transaction, so a number is never given out twice.
        let mut credential = credential;
        credential.created_order = self.mem.next_creation_order();
        let next_order = credential.created_order.saturating_add(1);
        let record = codec::encode_credential(&credential);
        let counter_key = scope_key(&CounterScope::Credential(sha256(&credential.id)));
        self.write(|txn| {
            txn.open_table(META)?
                .insert(K_NEXT_ORDER, next_order.to_le_bytes().as_slice())?;
            let mut creds = txn.open_table(CREDENTIALS)?;
            let mut counters = txn.open_table(COUNTERS)?;
            if let Some(old) = replacing {
                creds.remove(old)?;
                counters.remove(scope_key(&CounterScope::Credential(sha256(old))).as_slice())?;
            }
            creds.insert(credential.id.as_slice(), record.as_slice())?;
            counters.insert(counter_key.as_slice(), initial_counter)?;
            Ok(())
        })?;
        if let Some(old) = replacing {
            self.reserved.remove(&CounterScope::Credential(sha256(old)));
        }
        self.reserved.insert(
            CounterScope::Credential(sha256(&credential.id)),
            initial_counter,
        );
        self.mem
            .save_ordered(credential, replacing, initial_counter)
    }

    fn delete(&mut self, id: &[u8]) -> Result<bool, StoreError> {
        let scope = CounterScope::Credential(sha256(id));
        self.write(|txn| {
            txn.open_table(CREDENTIALS)?.remove(id)?;
            txn.open_table(COUNTERS)?
                .remove(scope_key(&scope).as_slice())?;
            Ok(())
        })?;
        self.reserved.remove(&scope);
        self.mem.delete(id)
    }

    fn count_discoverable(&self) -> Result<usize, StoreError> {
        self.mem.count_discoverable()
    }

    fn remaining_discoverable(&self) -> Result<usize, StoreError> {
        self.mem.remaining_discoverable()
    }

    fn next_counter(&mut self, scope: CounterScope, step: u32) -> Result<u32, StoreError> {
        let next = self.mem.counter(scope)?.saturating_add(step);
        let reserved = self.reserved.get(&scope).copied().unwrap_or(0);
        if next > reserved {
            let ahead = next.saturating_add(COUNTER_BLOCK);
            let key = scope_key(&scope);
            self.write(|txn| {
                txn.open_table(COUNTERS)?.insert(key.as_slice(), ahead)?;
                Ok(())
            })?;
            self.reserved.insert(scope, ahead);
        }
        self.mem.next_counter(scope, step)
    }

    fn counter(&self, scope: CounterScope) -> Result<u32, StoreError> {
        self.mem.counter(scope)
    }

    fn reset(&mut self, new_master: &[u8; 32]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.delete_table(CREDENTIALS)?;
            txn.delete_table(COUNTERS)?;
            txn.open_table(CREDENTIALS)?;
            txn.open_table(COUNTERS)?;
            let mut meta = txn.open_table(META)?;
            meta.remove(K_STATE)?;
            meta.remove(K_LARGE_BLOB)?;
            meta.insert(K_MASTER, new_master.as_slice())?;
            Ok(())
        })?;
        self.reserved.clear();
        self.mem.reset(new_master)
    }

    fn device_state(&self) -> Result<DeviceState, StoreError> {
        self.mem.device_state()
    }

    fn set_device_state(&mut self, state: &DeviceState) -> Result<(), StoreError> {
        let bytes = codec::encode_device_state(state);
        self.write(|txn| {
            txn.open_table(META)?.insert(K_STATE, bytes.as_slice())?;
            Ok(())
        })?;
        self.mem.set_device_state(state)
    }

    fn large_blob_array(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.mem.large_blob_array()
    }

    fn set_large_blob_array(&mut self, array: &[u8]) -> Result<(), StoreError> {
        self.write(|txn| {
            txn.open_table(META)?.insert(K_LARGE_BLOB, array)?;
            Ok(())
        })?;
        self.mem.set_large_blob_array(array)
    }

    fn update_user(&mut self, id: &[u8], user: &User) -> Result<bool, StoreError> {
        let Some(mut c) = self.mem.get(id)? else {
            return Ok(false);
        };
        c.user = user.clone();
        let record = codec::encode_credential(&c);
        self.write(|txn| {
            txn.open_table(CREDENTIALS)?.insert(id, record.as_slice())?;
            Ok(())
        })?;
        self.mem.update_user(id, user)
    }

    fn all_discoverable(&self) -> Result<Vec<Credential>, StoreError> {
        self.mem.all_discoverable()
    }

    fn all_stored(&self) -> Result<Vec<Credential>, StoreError> {
        self.mem.all_stored()
    }

    fn set_counter(&mut self, scope: CounterScope, value: u32) -> Result<(), StoreError> {
        // The reservation becomes the value itself: the next signature
        // commits a new block.
        let key = scope_key(&scope);
        self.write(|txn| {
            txn.open_table(COUNTERS)?.insert(key.as_slice(), value)?;
            Ok(())
        })?;
        self.reserved.insert(scope, value);
        self.mem.set_counter(scope, value)
    }
}

#[cfg(test)]
mod tests;
