package badger

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"

	bdb "github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/pb"
	"github.com/dgraph-io/badger/v4/table"
	"github.com/dgraph-io/badger/v4/y"
)

// checkTables reads the footer of every table the manifest lists and returns
// an error for the first one Badger could not open. Badger opens tables in
// goroutines of its own and panics there on a table whose footer is garbage,
// truncated or zeroed (measured on v4.9.6), which no recover around Open can
// catch: the whole process dies. The footer is small, and Badger reads it
// again right after, from the page cache.
//
// Anything else (no manifest yet, a manifest Badger will reject, a missing
// table, encryption) is left to Badger, which reports those as errors.
func checkTables(o bdb.Options) (err error) {
	if o.InMemory || len(o.EncryptionKey) > 0 {
		return nil
	}
	f, err := os.Open(filepath.Join(o.Dir, bdb.ManifestFilename))
	if err != nil {
		return nil
	}
	defer f.Close()
	m, ok := replayManifest(f, o)
	if !ok {
		return nil
	}
	for id, tm := range m.Tables {
		if tm.KeyID != 0 {
			continue // encrypted: the index is not readable as is
		}
		if err := checkTable(table.NewFilename(id, o.Dir)); err != nil {
			return err
		}
	}
	return nil
}

func replayManifest(f *os.File, o bdb.Options) (m bdb.Manifest, ok bool) {
	defer func() {
		if recover() != nil {
			ok = false // Badger will meet the same problem and report it
		}
	}()
	m, _, err := bdb.ReplayManifestFile(f, o.ExternalMagicVersion, o)
	return m, err == nil
}

// checkTable checks a table's footer: ... index | index length (4) |
// checksum of the index | checksum length (4), lengths big-endian.
func checkTable(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // Badger reports a missing table
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil
	}
	size := fi.Size()
	if size == 0 {
		return nil // Badger refuses an empty table with an error
	}
	corrupt := func(format string, args ...any) error {
		return fmt.Errorf("table %s is corrupt: %s", filepath.Base(path), fmt.Sprintf(format, args...))
	}
	if size < 8 {
		return corrupt("only %d bytes", size)
	}
	var word [4]byte
	if _, err := f.ReadAt(word[:], size-4); err != nil {
		return corrupt("%v", err)
	}
	chkLen := int64(binary.BigEndian.Uint32(word[:]))
	if chkLen > size-8 {
		return corrupt("checksum length %d beyond its %d bytes", chkLen, size)
	}
	chkBytes := make([]byte, chkLen)
	if _, err := f.ReadAt(chkBytes, size-4-chkLen); err != nil {
		return corrupt("%v", err)
	}
	chk, ok := parseChecksum(chkBytes)
	if !ok {
		return corrupt("unreadable checksum")
	}
	if _, err := f.ReadAt(word[:], size-8-chkLen); err != nil {
		return corrupt("%v", err)
	}
	indexLen := int64(binary.BigEndian.Uint32(word[:]))
	if indexLen < 8 || indexLen > size-8-chkLen {
		// Fewer than 8 bytes cannot be an index, and a zeroed footer gives
		// length 0 with a matching (zero) checksum.
		return corrupt("index length %d in %d bytes", indexLen, size)
	}
	index := make([]byte, indexLen)
	if _, err := f.ReadAt(index, size-8-chkLen-indexLen); err != nil && err != io.EOF {
		return corrupt("%v", err)
	}
	if err := y.VerifyChecksum(index, chk); err != nil {
		return corrupt("index %v", err)
	}
	if root := int64(binary.LittleEndian.Uint32(index)); root+4 > indexLen {
		return corrupt("index root offset %d beyond the index", root) // flatbuffers would panic
	}
	return nil
}

// parseChecksum decodes Badger's pb.Checksum message (algo = 1, sum = 2,
// both varints) without trusting it: y.CalculateChecksum panics on an
// unknown algorithm.
func parseChecksum(b []byte) (*pb.Checksum, bool) {
	c := &pb.Checksum{}
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, false
		}
		b = b[n:]
		v, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, false
		}
		b = b[n:]
		switch tag {
		case 1 << 3: // field 1, wire type 0 (varint)
			c.Algo = pb.Checksum_Algorithm(v)
		case 2 << 3: // field 2, varint
			c.Sum = v
		default:
			return nil, false
		}
	}
	if c.Algo != pb.Checksum_CRC32C && c.Algo != pb.Checksum_XXHash64 {
		return nil, false
	}
	return c, true
}
