// Package codec turns values into the bytes gecaso keys and stores, and back:
// a canonical msgpack encoding for keys ([Marshal], [Encoder]), a bounded
// decoder for untrusted stored bytes ([Unmarshal]), and the versioned,
// checksummed envelope every entry is framed in ([Pack], [Unpack],
// [AppendEnvelope], [DecodeEnvelope]).
//
//	b, err := codec.Pack(result, map[string]any{"source": "db"})
//	...
//	var got Result
//	params, err := codec.Unpack(b, &got) // errors.Is(err, codec.ErrCorrupt): treat as a miss
//
// # What counts as the same argument
//
// Marshal writes msgpack that depends only on the value, never on map
// iteration order, pointer addresses, time zones or the process, so equal
// values give equal bytes on every machine and after every restart; gecaso
// hashes these bytes into keys. The rules:
//
//   - Integers of every width encode by value in the smallest msgpack form:
//     int(5), int64(5) and uint8(5) are the same argument. time.Duration is
//     an integer.
//   - Floats keep their width: float32 encodes as a msgpack float 32 and
//     float64 as a float 64, so float64(5), float32(5) and int(5) are three
//     different arguments. -0 is encoded as 0 and every NaN as one NaN.
//   - Booleans, strings (msgpack str) and []byte and [N]byte (msgpack bin):
//     a string and a []byte with the same bytes differ.
//   - nil: a nil pointer, interface, slice and map all encode as nil. An
//     empty slice is an empty array, different from a nil slice; likewise
//     for maps.
//   - Slices and arrays are an array of their elements: []int{1} and
//     [1]int{1} are the same argument.
//   - Maps of any key and value types are encoded entry by entry and the
//     entries sorted by the bytes of their encoded keys (then of their
//     values, for keys that encode alike, such as NaNs). Since a msgpack
//     string starts with its length, shorter string keys come first.
//   - Structs are a map from field name to value over the fields msgpack
//     encodes, sorted as map keys are: exported fields, renamed by `msgpack:"name"`
//     and skipped by `msgpack:"-"`; embedded structs are inlined as msgpack
//     inlines them. omitempty is ignored: every field is written. A struct
//     is therefore the same argument as a map[string]any with the same
//     names and values. A struct that has fields but none encodable (all
//     unexported) and no marshaler is refused, since all its values would
//     look alike; struct{} is fine.
//   - Pointers are followed: &x is the same argument as x. A cycle is an
//     error (detected exactly, by the pointers, maps and slices being
//     encoded), as is nesting of arrays, maps and structs deeper than
//     [MaxDepth].
//   - Interfaces encode their dynamic value; a field of type error encodes
//     err.Error() as a string, as msgpack does.
//   - time.Time is a msgpack timestamp (extension -1) of the instant: the
//     zone and the monotonic reading are dropped, so equal instants in
//     different zones are the same argument.
//   - A type that encodes itself is encoded by its method, chosen as msgpack
//     chooses: msgpack.CustomEncoder, msgpack.Marshaler (their output must be
//     one msgpack value), encoding.BinaryMarshaler (written as bin),
//     encoding.TextMarshaler (written as str). A method on the pointer type
//     is used for values too, so that the bytes depend on the type alone.
//     WARNING: the method must itself be deterministic; one that writes a
//     map in Go's order gives a different key on every call.
//   - func, chan, complex64, complex128, uintptr and unsafe.Pointer cannot
//     be encoded (a uintptr or a pointer is an address, which differs
//     between processes): the error wraps [ErrUnsupported] and names the
//     type. So does a type registered only with msgpack.Register or
//     msgpack.RegisterExt, which Marshal does not consult.
//
// Marshal's output decodes with [Unmarshal], and with msgpack.Unmarshal,
// back into the same Go type, within what msgpack itself can decode (it
// cannot set an unexported embedded pointer, and decodes maps inside an
// interface as map[string]any only).
//
// # Decoding untrusted bytes
//
// Stored bytes may be truncated, corrupt, written by another program or
// hostile. msgpack v5.4.1 decoding such input can allocate gigabytes from a
// five-byte header or overflow the stack on deep nesting, and recover cannot
// catch either. So Unmarshal first walks the input without recursion and
// without allocating: every declared length must fit in the bytes that
// follow (each array element and map entry needs at least one byte), nesting
// is at most [MaxDepth], and exactly one value fills the input. It then
// decodes with its own compiled decoders (msgpack's for types with their own
// DecodeMsgpack), which also bound what they allocate (see below), check
// that integers fit their target and that numbers convert exactly, and turn
// any panic into an error. Every failure wraps [ErrCorrupt].
//
// # Memory
//
// A value may take far more memory in Go than on the wire: a
// struct { ID int; scratch [4096]byte } is 4104 bytes in memory and five
// bytes in Marshal's output, since unexported fields (and fields tagged
// `msgpack:"-"`) are not encoded. Decoding must make room for them, and an
// input may ask for a lot of it: each nil or 0 in an array of a million is
// one byte on the wire and one element of the slice. Unmarshal settles
// this by the type: for a target of type T it allocates at most
//
//	1 MiB + R(T) * len(b)
//
// bytes of slices, maps, pointers and interface values (sizes of Go
// values: the allocator rounds each allocation up by at most a quarter),
// plus copies of strings and byte slices (at most len(b) bytes), and
// refuses the input before an allocation that would exceed that. R(T) is
// the largest ratio, over the values T can hold that take memory of their
// own (slice elements, map entries, what pointers point to, values in
// interfaces), between that memory and the fewest bytes Marshal or
// msgpack.Marshal writes for such a value (counting its field names and
// the fields and arrays it holds inline, not counting fields tagged
// omitempty). For a []struct { ID int; scratch [4096]byte } R is 821
// (4104 bytes for five); for a []struct { A [1024]int64 } it is 8 (8192 bytes
// for over a thousand); for values decoded into an interface, where a
// one-byte empty map costs a map header, it is 340. So every value that
// Marshal writes reads back, whatever its size, and no input makes
// Unmarshal allocate more than a genuine encoding of its size would: a
// megabyte of nils decoded as a []struct { A [1024]int64 } (8 GiB) is
// refused, as it would be refused as a []struct { ID int; scratch
// [4096]byte } (4 GiB, where a genuine megabyte takes at most 821 MiB).
// The charges follow what the Go runtime allocates (slots of a map's
// groups, out-of-line keys and elements, boxes in interfaces) closely but
// not to the byte. Types that decode themselves (msgpack.CustomDecoder,
// msgpack.Unmarshaler, encoding.BinaryUnmarshaler, encoding.TextUnmarshaler)
// allocate what their methods allocate.
//
// Decoding into an interface gives msgpack's natural values: nil, bool,
// int64 (uint64 above math.MaxInt64), float32, float64, string, []byte,
// time.Time in UTC, []any, and map[string]any (map[any]any when a key is
// not a string).
//
// # Envelope format
//
// An entry is framed as follows (version 2, integers big-endian):
//
//	offset  size  field
//	0       2     magic "gc"
//	2       1     format version, 2
//	3       8     written at, Unix nanoseconds (int64); 0: unknown
//	11      8     expires at, Unix nanoseconds (int64); 0: never
//	19      8     stale until, Unix nanoseconds (int64); 0: not past the expiry
//	27      1     flags: bit 0, the data is a cached error; the others are 0
//	28      1-10  params length, minimal uvarint
//	        n     params: canonical msgpack map, or nothing
//	        1-10  data length, minimal uvarint
//	        n     data: msgpack of the value (or of the cached error)
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// The overhead is 34 bytes for small entries. The times sit at fixed
// offsets so a storage can read the expiry without parsing the rest. A
// stale-until is set only with an expiry and never before it; unknown flags
// and times out of order are corrupt. Version 1, written by earlier
// releases, is the same frame without stale-until and flags (its params
// length sits at offset 19, its overhead is 25 bytes): readers decode it as
// an entry without a stale window that is not an error. Writers always
// write version 2. A reader refuses, as corrupt, any version it does not
// know, a newer one included: an entry written by a newer gecaso is a miss
// for an older one.
package codec
