package sqlitestore

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"modernc.org/libc"
	lib "modernc.org/sqlite/lib"
)

// The writer connection opens the database through a VFS of its own
// (walVFSes), SQLite's unix VFS (or its unix-excl variant, see
// Options.ExclusiveLocking) except for what it does with the writes to a
// WAL file: it combines them.
//
// SQLite appends a transaction to the WAL as frames, each written with two
// pwrite calls (a 24-byte header, then the page), then fsyncs the file
// once. A commit of ten pages is twenty system calls before its fsync,
// about 5 µs each on a virtual machine: a third of what a small durable
// commit costs once the fsync is left out. Here the frames a transaction
// appends are gathered in a buffer and written with one pwrite: when the
// frame that commits the transaction is complete (its header says so, as
// the WAL format defines), before any fsync, read, size, truncate, file
// control or close of the file, and when the buffer is full. So the
// bytes, their order and the fsyncs are what SQLite asks for; only the
// number of calls changes.
//
// Only appends are gathered: a write that does not start where the
// previous one on this handle ended (a frame rewritten in place, its
// checksum rewritten) is written at once, after the buffer, so that the
// file sees every write in SQLite's order. A commit is never visible to
// another connection before its frames are in the file: SQLite publishes
// a commit (in the shared-memory index) only after it has written its
// last frame, which flushes the buffer.

// walBufSize is the largest run of appended bytes held before it is
// written: the most the unix VFS writes in one call (it masks a write's
// length with 0x1ffff), 31 frames of 4 KiB pages.
const walBufSize = 1<<17 - 1

// walFile is the sqlite3_file of a WAL opened through the VFS; the
// default VFS's own file follows it at walInnerOff. A file that is not a
// WAL is the default VFS's file alone, at offset 0.
type walFile struct {
	pMethods uintptr // &walMethods
	buf      uintptr // walBufSize bytes of C memory, allocated at the first write
	n        int64   // bytes held in buf
	off      int64   // file offset of buf[0]
	end      int64   // where the last write through this handle ended (-1: none yet)
	commit   int64   // the last frame header appended is a commit frame's
}

var walInnerOff = (unsafe.Sizeof(walFile{}) + 15) &^ 15

// walVFS is one registration of the VFS, over the SQLite VFS named base
// ("": the default one, unix).
type walVFS struct {
	name, base string

	once     sync.Once
	err      error
	p        atomic.Uintptr // the registered sqlite3_vfs
	baseVFS  uintptr        // base's
	baseOpen uintptr        // its xOpen
}

// walVFSes are the VFS over unix, and the one over unix-excl that
// Options.ExclusiveLocking selects.
var walVFSes = [2]walVFS{{name: "perdure-wal"}, {name: "perdure-wal-excl", base: "unix-excl"}}

// walVFSFor returns the registration for a store with exclusive (or not)
// locks.
func walVFSFor(exclusive bool) *walVFS {
	if exclusive {
		return &walVFSes[1]
	}
	return &walVFSes[0]
}

var walMethods lib.Tsqlite3_io_methods

// walStats counts, for tests, the writes the VFS took and their bytes, the
// pwrite calls it made of them, and the writes that did not append
// (written through).
var walStats struct {
	writes, bytes, pwrites, rewrites atomic.Int64
}

// register registers v once per process.
func (v *walVFS) register() error {
	v.once.Do(func() { v.err = v.registerOnce() })
	return v.err
}

func (v *walVFS) registerOnce() error {
	tls := libc.NewTLS()
	defer tls.Close()
	var zBase uintptr
	if v.base != "" {
		var err error
		if zBase, err = libc.CString(v.base); err != nil {
			return fmt.Errorf("sqlitestore: register the WAL VFS: %w", err)
		}
		defer libc.Xfree(tls, zBase)
	}
	v.baseVFS = lib.Xsqlite3_vfs_find(tls, zBase)
	if v.baseVFS == 0 && v.base != "" {
		return fmt.Errorf("sqlitestore: exclusive locking needs SQLite's %s VFS, which this platform does not have", v.base)
	}
	if v.baseVFS == 0 {
		return fmt.Errorf("sqlitestore: SQLite has no default VFS")
	}
	base := (*lib.Tsqlite3_vfs)(cptr(v.baseVFS))
	v.baseOpen = base.FxOpen
	name, err := libc.CString(v.name)
	if err != nil {
		return fmt.Errorf("sqlitestore: register the WAL VFS: %w", err)
	}
	p := libc.Xcalloc(tls, 1, libc.Tsize_t(unsafe.Sizeof(lib.Tsqlite3_vfs{})))
	if p == 0 {
		return fmt.Errorf("sqlitestore: register the WAL VFS: out of memory")
	}
	vfs := (*lib.Tsqlite3_vfs)(cptr(p))
	*vfs = *base
	vfs.FpNext = 0
	vfs.FzName = name
	vfs.FszOsFile = int32(walInnerOff) + base.FszOsFile
	vfs.FxOpen = cfunc(walOpen)
	walMethodsOnce.Do(func() {
		walMethods = lib.Tsqlite3_io_methods{
			FiVersion:               1,
			FxClose:                 cfunc(walClose),
			FxRead:                  cfunc(walRead),
			FxWrite:                 cfunc(walWrite),
			FxTruncate:              cfunc(walTruncate),
			FxSync:                  cfunc(walSync),
			FxFileSize:              cfunc(walFileSize),
			FxLock:                  cfunc(walLock),
			FxUnlock:                cfunc(walUnlock),
			FxCheckReservedLock:     cfunc(walCheckReservedLock),
			FxFileControl:           cfunc(walFileControl),
			FxSectorSize:            cfunc(walSectorSize),
			FxDeviceCharacteristics: cfunc(walDeviceCharacteristics),
		}
	})
	// Set before SQLite can call walOpen with p.
	v.p.Store(p)
	if rc := lib.Xsqlite3_vfs_register(tls, p, 0); rc != lib.SQLITE_OK {
		return fmt.Errorf("sqlitestore: register the WAL VFS: SQLite error %d", rc)
	}
	return nil
}

var walMethodsOnce sync.Once

// cfunc returns f as a function pointer of the translated SQLite: the
// address of its func value, as the translation itself stores them.
func cfunc[F any](f F) uintptr {
	return *(*uintptr)(unsafe.Pointer(&struct{ f F }{f}))
}

// cfn returns the function pointer p of the translated SQLite as a Go
// function of type F (the inverse of cfunc).
func cfn[F any](p uintptr) F { return *(*F)(unsafe.Pointer(&p)) }

// cptr turns an address of SQLite's C memory (never Go memory) into a
// pointer.
func cptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func inner(p uintptr) uintptr { return p + walInnerOff }

func innerMethods(p uintptr) *lib.Tsqlite3_io_methods {
	return (*lib.Tsqlite3_io_methods)(cptr((*lib.Tsqlite3_file)(cptr(inner(p))).FpMethods))
}

func walOpen(tls *libc.TLS, pVfs uintptr, zName uintptr, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	v := &walVFSes[0]
	if pVfs == walVFSes[1].p.Load() {
		v = &walVFSes[1]
	}
	// The base VFS is passed its own sqlite3_vfs: unix-excl is told from
	// unix by its name.
	open := cfn[func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32](v.baseOpen)
	if flags&lib.SQLITE_OPEN_WAL == 0 {
		return open(tls, v.baseVFS, zName, pFile, flags, pOutFlags)
	}
	w := (*walFile)(cptr(pFile))
	*w = walFile{end: -1}
	rc := open(tls, v.baseVFS, zName, inner(pFile), flags, pOutFlags)
	if (*lib.Tsqlite3_file)(cptr(inner(pFile))).FpMethods != 0 {
		w.pMethods = uintptr(unsafe.Pointer(&walMethods))
	}
	return rc
}

// flush writes what the buffer holds.
func (w *walFile) flush(tls *libc.TLS, p uintptr) int32 {
	if w.n == 0 {
		return lib.SQLITE_OK
	}
	n, off := w.n, w.off
	w.n = 0
	walStats.pwrites.Add(1)
	return innerWrite(tls, p, w.buf, int32(n), off)
}

func innerWrite(tls *libc.TLS, p, z uintptr, amt int32, off int64) int32 {
	return cfn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](innerMethods(p).FxWrite)(tls, inner(p), z, amt, off)
}

func walWrite(tls *libc.TLS, p, z uintptr, amt int32, off int64) int32 {
	w := (*walFile)(cptr(p))
	walStats.writes.Add(1)
	walStats.bytes.Add(int64(amt))
	// The WAL header (32 bytes at 0) starts the file over; anything else
	// is an append when it starts where the last write ended.
	appends := (off == 0 && amt == 32) || off == w.end
	if appends && w.buf == 0 {
		w.buf = libc.Xmalloc(tls, walBufSize)
	}
	if !appends || w.buf == 0 || int64(amt) > walBufSize {
		// Written through, after what the buffer holds.
		if rc := w.flush(tls, p); rc != lib.SQLITE_OK {
			return rc
		}
		if appends {
			w.end = off + int64(amt)
		} else {
			walStats.rewrites.Add(1)
			w.end = max(w.end, off+int64(amt))
		}
		walStats.pwrites.Add(1)
		return innerWrite(tls, p, z, amt, off)
	}
	if w.n > 0 && (off != w.off+w.n || w.n+int64(amt) > walBufSize) {
		if rc := w.flush(tls, p); rc != lib.SQLITE_OK {
			return rc
		}
	}
	if w.n == 0 {
		w.off = off
	}
	copy(unsafe.Slice((*byte)(cptr(w.buf+uintptr(w.n))), amt), unsafe.Slice((*byte)(cptr(z)), amt))
	w.n += int64(amt)
	w.end = off + int64(amt)
	switch amt {
	case 24: // a frame header: bytes 4-7 are non-zero in a commit frame
		w.commit = int64(binary.BigEndian.Uint32(unsafe.Slice((*byte)(cptr(z+4)), 4)))
	case 32: // the WAL header
		w.commit = 0
	default: // a page: it completes the frame whose header came before
		if w.commit != 0 {
			w.commit = 0
			return w.flush(tls, p)
		}
	}
	return lib.SQLITE_OK
}

func walClose(tls *libc.TLS, p uintptr) int32 {
	w := (*walFile)(cptr(p))
	rc := w.flush(tls, p)
	if w.buf != 0 {
		libc.Xfree(tls, w.buf)
		w.buf = 0
	}
	f := cfn[func(*libc.TLS, uintptr) int32](innerMethods(p).FxClose)
	if rc2 := f(tls, inner(p)); rc == lib.SQLITE_OK {
		rc = rc2
	}
	return rc
}

// flushed writes what the buffer of file p holds.
func flushed(tls *libc.TLS, p uintptr) int32 { return (*walFile)(cptr(p)).flush(tls, p) }

func walRead(tls *libc.TLS, p, z uintptr, amt int32, off int64) int32 {
	if rc := flushed(tls, p); rc != lib.SQLITE_OK {
		return rc
	}
	return cfn[func(*libc.TLS, uintptr, uintptr, int32, int64) int32](innerMethods(p).FxRead)(tls, inner(p), z, amt, off)
}

func walTruncate(tls *libc.TLS, p uintptr, size int64) int32 {
	w := (*walFile)(cptr(p))
	if rc := w.flush(tls, p); rc != lib.SQLITE_OK {
		return rc
	}
	w.end = min(w.end, size)
	return cfn[func(*libc.TLS, uintptr, int64) int32](innerMethods(p).FxTruncate)(tls, inner(p), size)
}

func walSync(tls *libc.TLS, p uintptr, flags int32) int32 {
	if rc := flushed(tls, p); rc != lib.SQLITE_OK {
		return rc
	}
	began := time.Now()
	rc := cfn[func(*libc.TLS, uintptr, int32) int32](innerMethods(p).FxSync)(tls, inner(p), flags)
	if rc == lib.SQLITE_OK {
		recordWALSync(time.Since(began))
	}
	return rc
}

func walFileSize(tls *libc.TLS, p, pSize uintptr) int32 {
	if rc := flushed(tls, p); rc != lib.SQLITE_OK {
		return rc
	}
	return cfn[func(*libc.TLS, uintptr, uintptr) int32](innerMethods(p).FxFileSize)(tls, inner(p), pSize)
}

func walFileControl(tls *libc.TLS, p uintptr, op int32, pArg uintptr) int32 {
	if rc := flushed(tls, p); rc != lib.SQLITE_OK {
		return rc
	}
	return cfn[func(*libc.TLS, uintptr, int32, uintptr) int32](innerMethods(p).FxFileControl)(tls, inner(p), op, pArg)
}

func walLock(tls *libc.TLS, p uintptr, lock int32) int32 {
	return cfn[func(*libc.TLS, uintptr, int32) int32](innerMethods(p).FxLock)(tls, inner(p), lock)
}

func walUnlock(tls *libc.TLS, p uintptr, lock int32) int32 {
	return cfn[func(*libc.TLS, uintptr, int32) int32](innerMethods(p).FxUnlock)(tls, inner(p), lock)
}

func walCheckReservedLock(tls *libc.TLS, p, pResOut uintptr) int32 {
	return cfn[func(*libc.TLS, uintptr, uintptr) int32](innerMethods(p).FxCheckReservedLock)(tls, inner(p), pResOut)
}

func walSectorSize(tls *libc.TLS, p uintptr) int32 {
	m := innerMethods(p)
	if m.FxSectorSize == 0 {
		return lib.SQLITE_DEFAULT_SECTOR_SIZE
	}
	return cfn[func(*libc.TLS, uintptr) int32](m.FxSectorSize)(tls, inner(p))
}

func walDeviceCharacteristics(tls *libc.TLS, p uintptr) int32 {
	m := innerMethods(p)
	if m.FxDeviceCharacteristics == 0 {
		return 0
	}
	return cfn[func(*libc.TLS, uintptr) int32](m.FxDeviceCharacteristics)(tls, inner(p))
}
