// Package dump reads and writes the portable dump of a gecaso cache that
// `gecaso export` writes and `gecaso import` reads: a stream of records, each
// a key, the absolute time the entry stops being worth keeping, and the
// stored bytes, framed so that a reader finds any truncation or damage and
// never holds more than one record in memory.
//
// # Format, version 1
//
// All integers are big-endian; lengths are minimal uvarints.
//
//	header   "gecaso-dump\n" (12 bytes)
//	         version (1 byte): 1
//	         created: Unix nanoseconds (8 bytes)
//	         CRC-32C (Castagnoli) of the 21 bytes before it (4 bytes)
//	record   'r' (1 byte)
//	         key length, key
//	         deadline: Unix nanoseconds (8 bytes); 0: never
//	         value length, value
//	         CRC-32C of the record from its 'r' (4 bytes)
//	...      more records
//	end      'e' (1 byte)
//	         number of records (8 bytes)
//	         CRC-32C of every byte of the file before the 'e' (4 bytes)
//	         CRC-32C of the end record before this field (4 bytes)
//
// Nothing may follow the end record. A file without it is truncated: a
// reader reports that after the last whole record, so an importer can tell
// what it has written. Keys are at most [MaxKeySize] bytes and values at
// most [MaxValueSize]; a reader refuses larger ones before allocating, and
// otherwise allocates only as the bytes arrive, so a hostile length field
// cannot make it allocate more than the file holds.
package dump

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"math"
	"slices"
	"time"
)

// Version is the format version this package writes and the newest it reads.
const Version = 1

// Limits a reader enforces and a writer refuses to exceed.
const (
	// MaxKeySize is the longest key a dump may hold, in bytes.
	MaxKeySize = 1 << 20
	// MaxValueSize is the longest value a dump may hold, in bytes: the
	// largest string Redis stores.
	MaxValueSize = 512 << 20
)

const (
	magic      = "gecaso-dump\n"
	headerSize = len(magic) + 1 + 8 + 4
	tagRecord  = 'r'
	tagEnd     = 'e'
)

// ErrCorrupt is wrapped by every error a [Reader] returns for bytes that are
// not a whole, intact dump: a bad magic, an unknown version, a checksum
// mismatch, a length over the limits, a missing end record, or trailing
// bytes. Errors for a file that ends too early also wrap
// io.ErrUnexpectedEOF. Match them with errors.Is.
var ErrCorrupt = errors.New("gecaso/dump: corrupt dump")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Record is one entry of a dump.
type Record struct {
	// Key is the storage key, without any storage prefix.
	Key string
	// Deadline is when the entry is no longer worth keeping (its expiry, or
	// the end of its stale window); the zero time means never.
	Deadline time.Time
	// Value is the stored bytes, as the storage holds them. After
	// [Reader.Next] the slice belongs to the caller.
	Value []byte
}

// Writer writes a dump to an io.Writer. It buffers its output: call
// [Writer.Close] to write the end record and flush. A Writer is not safe
// for concurrent use.
type Writer struct {
	w     *bufio.Writer
	file  hash.Hash32 // every byte written so far
	n     uint64
	buf   []byte
	err   error // sticky
	close bool
}

// NewWriter writes the header, stamped created, to w and returns a Writer
// for the records. The caller keeps ownership of w, which Close does not
// close.
func NewWriter(w io.Writer, created time.Time) (*Writer, error) {
	dw := &Writer{w: bufio.NewWriterSize(w, 256<<10), file: crc32.New(castagnoli)}
	b := append([]byte(magic), Version)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNanos(created)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := dw.write(b); err != nil {
		return nil, err
	}
	return dw, nil
}

// Write appends one record. The key and value must fit the limits
// ([MaxKeySize], [MaxValueSize]); r.Value is not kept.
func (w *Writer) Write(r *Record) error {
	switch {
	case w.err != nil:
		return w.err
	case w.close:
		return errors.New("gecaso/dump: write after close")
	case len(r.Key) > MaxKeySize:
		return fmt.Errorf("gecaso/dump: key of %d bytes over the limit of %d", len(r.Key), MaxKeySize)
	case len(r.Value) > MaxValueSize:
		return fmt.Errorf("gecaso/dump: value of %q has %d bytes, over the limit of %d", r.Key, len(r.Value), MaxValueSize)
	}
	b := append(w.buf[:0], tagRecord)
	b = binary.AppendUvarint(b, uint64(len(r.Key)))
	b = append(b, r.Key...)
	b = binary.BigEndian.AppendUint64(b, uint64(unixNanos(r.Deadline)))
	b = binary.AppendUvarint(b, uint64(len(r.Value)))
	crc := crc32.Update(crc32.Checksum(b, castagnoli), castagnoli, r.Value)
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.write(r.Value); err != nil {
		return err
	}
	if err := w.write(binary.BigEndian.AppendUint32(b[:0], crc)); err != nil {
		return err
	}
	if cap(b) <= 64<<10 {
		w.buf = b[:0]
	}
	w.n++
	return nil
}

// Count returns the number of records written so far.
func (w *Writer) Count() uint64 { return w.n }

// Close writes the end record and flushes. It does not close the
// underlying io.Writer. Later calls return the first call's error.
func (w *Writer) Close() error {
	if w.close {
		return w.err
	}
	w.close = true
	if w.err != nil {
		return w.err
	}
	b := []byte{tagEnd}
	b = binary.BigEndian.AppendUint64(b, w.n)
	b = binary.BigEndian.AppendUint32(b, w.file.Sum32())
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	if err := w.write(b); err != nil {
		return err
	}
	if err := w.w.Flush(); err != nil {
		w.err = fmt.Errorf("gecaso/dump: %w", err)
	}
	return w.err
}

func (w *Writer) write(b []byte) error {
	if _, err := w.w.Write(b); err != nil {
		w.err = fmt.Errorf("gecaso/dump: %w", err)
		return w.err
	}
	w.file.Write(b)
	return nil
}

// unixNanos is t in Unix nanoseconds, 0 for the zero time, clamped to what
// an int64 holds; the Unix epoch itself becomes 1 so that it is not "none".
func unixNanos(t time.Time) int64 {
	switch {
	case t.IsZero():
		return 0
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	if n := t.UnixNano(); n != 0 {
		return n
	}
	return 1
}

func fromUnixNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// Reader reads a dump record by record. It is not safe for concurrent use.
type Reader struct {
	r       *bufio.Reader
	file    hash.Hash32 // every byte before the current record
	rec     hash.Hash32 // the current record
	before  uint32      // file's sum before the current record
	off     int64       // offset of the next byte to read
	start   int64       // offset of the current record
	n       uint64      // records read
	created time.Time
	done    bool
	err     error // sticky

	noChecksums bool // tests: let the fuzzer past the checksums
}

// NewReader reads and checks the header of the dump in r. The error wraps
// [ErrCorrupt] when r does not start with a version-1 dump header.
func NewReader(r io.Reader) (*Reader, error) {
	return newReader(r, false)
}

func newReader(r io.Reader, noChecksums bool) (*Reader, error) {
	dr := &Reader{
		r:           bufio.NewReaderSize(r, 256<<10),
		file:        crc32.New(castagnoli),
		rec:         crc32.New(castagnoli),
		noChecksums: noChecksums,
	}
	var h [headerSize]byte
	if err := dr.full(h[:], "header"); err != nil {
		return nil, err
	}
	if string(h[:len(magic)]) != magic {
		return nil, dr.corrupt(0, "not a gecaso dump (the file does not start with %q)", magic)
	}
	if v := h[len(magic)]; v != Version {
		return nil, dr.corrupt(0, "dump format version %d; this gecaso reads version %d", v, Version)
	}
	body := h[:headerSize-4]
	if err := dr.check(crc32.Checksum(body, castagnoli), h[headerSize-4:], 0, "header"); err != nil {
		return nil, err
	}
	dr.created = fromUnixNanos(int64(binary.BigEndian.Uint64(h[len(magic)+1:])))
	dr.start = dr.off
	return dr, nil
}

// Created returns the time stamped in the header by the writer.
func (r *Reader) Created() time.Time { return r.created }

// Offset returns how many bytes of the file have been read and checked:
// the offset just past the last record Next returned.
func (r *Reader) Offset() int64 { return r.start }

// Count returns the number of records Next has returned.
func (r *Reader) Count() uint64 { return r.n }

// Next returns the next record, which the caller owns. After the last
// record it checks the end record (the count and the checksum of the whole
// file) and returns io.EOF. Every other error wraps [ErrCorrupt] (and
// io.ErrUnexpectedEOF when the file ends early) or is the underlying
// reader's; once Next has returned an error it returns it again.
func (r *Reader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	rec, err := r.next()
	if err != nil {
		r.err = err
		return nil, err
	}
	r.n++
	r.start = r.off
	return rec, nil
}

func (r *Reader) next() (*Record, error) {
	r.rec.Reset()
	r.before = r.file.Sum32()
	tag, err := r.byte("record")
	if err != nil {
		return nil, err
	}
	switch tag {
	case tagEnd:
		return nil, r.end()
	case tagRecord:
	default:
		return nil, r.corrupt(r.start, "unknown record type 0x%02x", tag)
	}
	klen, err := r.length("key", MaxKeySize)
	if err != nil {
		return nil, err
	}
	key, err := r.bytes(klen, "key")
	if err != nil {
		return nil, err
	}
	var d [8]byte
	if err := r.full(d[:], "record"); err != nil {
		return nil, err
	}
	vlen, err := r.length("value", MaxValueSize)
	if err != nil {
		return nil, err
	}
	value, err := r.bytes(vlen, "value")
	if err != nil {
		return nil, err
	}
	sum := r.rec.Sum32()
	var c [4]byte
	if err := r.full(c[:], "record"); err != nil {
		return nil, err
	}
	if err := r.check(sum, c[:], r.start, fmt.Sprintf("record %d", r.n+1)); err != nil {
		return nil, err
	}
	return &Record{
		Key:      string(key),
		Deadline: fromUnixNanos(int64(binary.BigEndian.Uint64(d[:]))),
		Value:    value,
	}, nil
}

// end checks the end record, whose tag has been read, and that nothing
// follows it; it returns io.EOF when all is well.
func (r *Reader) end() error {
	fileSum := r.before
	var b [16]byte
	if err := r.full(b[:], "end record"); err != nil {
		return err
	}
	if got := binary.BigEndian.Uint64(b[:8]); got != r.n {
		return r.corrupt(r.start, "the end record counts %d records, the file holds %d", got, r.n)
	}
	if err := r.check(fileSum, b[8:12], r.start, "file"); err != nil {
		return err
	}
	if err := r.check(crc32.Update(crc32.Checksum([]byte{tagEnd}, castagnoli), castagnoli, b[:12]), b[12:], r.start, "end record"); err != nil {
		return err
	}
	if _, err := r.r.ReadByte(); err != io.EOF {
		if err != nil {
			return fmt.Errorf("gecaso/dump: %w", err)
		}
		return r.corrupt(r.off, "bytes after the end record")
	}
	r.done = true
	return io.EOF
}

// length reads a minimal uvarint of at most limit.
func (r *Reader) length(what string, limit uint64) (int, error) {
	at := r.off
	var buf [binary.MaxVarintLen64]byte
	for i := range buf {
		c, err := r.byte(what + " length")
		if err != nil {
			return 0, err
		}
		buf[i] = c
		if c < 0x80 {
			if i > 0 && c == 0 {
				return 0, r.corrupt(at, "%s length is not minimal", what)
			}
			n, k := binary.Uvarint(buf[:i+1])
			if k <= 0 {
				return 0, r.corrupt(at, "malformed %s length", what)
			}
			if n > limit {
				return 0, r.corrupt(at, "%s of %d bytes is over the limit of %d", what, n, limit)
			}
			return int(n), nil
		}
	}
	return 0, r.corrupt(at, "malformed %s length", what)
}

// bytes reads n bytes, growing the buffer only as bytes arrive, so that a
// length field alone cannot make it allocate.
func (r *Reader) bytes(n int, what string) ([]byte, error) {
	const chunk = 1 << 20
	b := make([]byte, 0, min(n, chunk))
	for len(b) < n {
		k := min(n-len(b), chunk)
		b = slices.Grow(b, k)
		if err := r.full(b[len(b):len(b)+k], what); err != nil {
			return nil, err
		}
		b = b[:len(b)+k]
	}
	return b, nil
}

func (r *Reader) byte(what string) (byte, error) {
	c, err := r.r.ReadByte()
	if err != nil {
		return 0, r.readErr(err, what)
	}
	r.off++
	r.rec.Write([]byte{c})
	r.file.Write([]byte{c})
	return c, nil
}

// full reads exactly len(b) bytes.
func (r *Reader) full(b []byte, what string) error {
	k, err := io.ReadFull(r.r, b)
	r.off += int64(k)
	r.rec.Write(b[:k])
	r.file.Write(b[:k])
	if err != nil {
		return r.readErr(err, what)
	}
	return nil
}

func (r *Reader) readErr(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		if what == "record" && r.off == r.start {
			return fmt.Errorf("%w: truncated: the file ends at byte %d, after %d whole records, without its end record (%w)",
				ErrCorrupt, r.off, r.n, io.ErrUnexpectedEOF)
		}
		if what == "header" {
			return fmt.Errorf("%w: truncated: the file ends at byte %d, inside the header (%w)",
				ErrCorrupt, r.off, io.ErrUnexpectedEOF)
		}
		return fmt.Errorf("%w: truncated: the file ends at byte %d, after %d whole records, inside the %s (%w)",
			ErrCorrupt, r.off, r.n, what, io.ErrUnexpectedEOF)
	}
	return fmt.Errorf("gecaso/dump: read at byte %d: %w", r.off, err)
}

// check compares a computed checksum with the stored one.
func (r *Reader) check(sum uint32, stored []byte, at int64, what string) error {
	if r.noChecksums {
		return nil
	}
	if want := binary.BigEndian.Uint32(stored); sum != want {
		return r.corrupt(at, "checksum of the %s is %08x, stored %08x", what, sum, want)
	}
	return nil
}

func (r *Reader) corrupt(at int64, format string, args ...any) error {
	return fmt.Errorf("%w: at byte %d: %s", ErrCorrupt, at, fmt.Sprintf(format, args...))
}
