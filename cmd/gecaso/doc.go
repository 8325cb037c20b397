// Gecaso inspects, verifies, purges, collects and moves the entries of a
// gecaso cache kept in a Badger directory (storage/badger) or on Redis
// (storage/redis).
//
//	go install github.com/gecaso/gecaso/cmd/gecaso@latest
//
// Usage:
//
//	gecaso COMMAND [flags] ARGUMENTS
//
// The commands:
//
//	stats   TARGET            entries, bytes, expired and corrupt entries per namespace;
//	                          the distribution of sizes and ages; Badger's disk use
//	ls      TARGET [PREFIX]   one line per entry: size, written, expires, key
//	get     TARGET KEY        one entry's envelope (written, expires, stale window,
//	                          error flag, params) and its value as JSON
//	verify  TARGET            decode every entry (frame, checksum, msgpack); list the
//	                          corrupt ones, exit status 1 when any; -fix removes them
//	purge   TARGET NAMESPACE  remove every entry of name (all versions) or name@version
//	gc      TARGET            remove expired entries; on Badger, return their disk space
//	export  TARGET FILE       write every live entry to a portable dump (FILE - : stdout)
//	import  FILE TARGET       write a dump's entries with their remaining TTL (FILE - : stdin)
//
// gecaso -h lists them and gecaso COMMAND -h gives each one's details.
// Flags may come before or after the arguments; "--" ends them.
//
// # Targets
//
// A TARGET is either a Badger directory, the one given to badger.Open, or a
// Redis server as a URL:
//
//	redis://[user[:password]@]host[:port][/db]      one server (port 6379 by default)
//	redis://host:port,host:port,...                 a Cluster
//	rediss://...                                    the same over TLS
//
// -prefix P reads and writes only the keys under P, as redis.WithPrefix(P)
// does; keys are shown without it. A single address of a Cluster node is
// enough: gecaso asks the server and talks to the whole Cluster. The
// password may also come from the REDISCLI_AUTH environment variable (as
// redis-cli reads it), which keeps it out of the process list. A server
// that does not answer within a few seconds is reported as unreachable,
// with its address.
//
// A Badger directory must exist: gecaso creates none, so that a mistyped
// path is an error rather than a new, empty cache. Only import accepts an
// empty directory, which becomes a new Badger directory. A directory
// without Badger's MANIFEST is refused.
//
// Badger lets one process at a time open a directory for writing, and
// refuses even a read-only open while a writer holds it. gecaso says so
// when the directory is in use: stop the process that uses it, or copy the
// directory (cp -a DIR COPY) and point gecaso at the copy. A directory
// whose writer was killed needs its log replayed by the next writer before
// a read-only open works: gecaso says that too (gc replays it, as does
// starting the application).
//
// # Read-only commands
//
// stats, ls, get, verify without -fix and export never modify the target:
// they open a Badger directory in Badger's read-only mode, which leaves
// every file byte for byte as it was (the tests check this), and send only
// reads to Redis. purge, gc, verify -fix and import write.
//
// # Namespaces and entries
//
// A gecaso key is name[@version]:digest; its namespace is the part before
// the first ':' (name or name@version). Keys of another form count under
// "(other)". Each value is an envelope (see package codec): the time it was
// written, its expiry, its params and the msgpack of the result, framed
// with a checksum. An entry is expired once its envelope's expiry has
// passed (and the end of its stale window, for an envelope that has one);
// gecaso never returns it, but a storage may still hold it until its own
// expiry, or forever if it has none. stats and ls show such entries, gc
// removes them.
//
// purge NAME removes NAME:... and every version NAME@...:..., never
// NAME2:...; purge NAME@V removes that version only.
//
// WARNING: verify -fix, purge and gc act on every key under the target,
// and on Redis on every string key under -prefix: give a Redis cache a
// prefix (or a database) of its own. Keys of other types are never read or
// removed by verify or gc.
//
// # JSON output
//
// With -json, ls writes one JSON object per line (JSON Lines) and every
// other command writes one JSON document, whose fields each command's -h
// lists. Times are RFC 3339 strings in UTC with nanoseconds, or null
// (never, unknown); sizes are bytes; ages are seconds. The human output may
// change between versions; the JSON fields are kept.
//
// get renders the value without knowing its Go type (codec.Unmarshal into
// an interface, which checks the bytes first): msgpack values JSON cannot
// say directly become an object with one member whose name starts with '$':
//
//	binary                      {"$bin": "AQID"}                 standard base64
//	timestamp                   {"$time": "2024-01-02T03:04:05.000000006Z"}
//	map with non-string keys    {"$map": [[1, "a"], [2, "b"]]}   pairs, sorted by key's JSON
//	NaN, infinities             {"$float": "NaN"}, "+Inf", "-Inf"
//	member name "$x"            "$$x"                            one more '$'
//
// # Exit status
//
// 0 on success; 1 on an error, or when verify found corrupt entries (with
// -fix too: -json says how many were removed); 2 for a mistake in the
// command line, such as an unknown command.
//
// # Dumps
//
// export writes, and import reads, a dump: a stream of records, each the
// key (without the Redis prefix), the stored bytes unchanged (the whole
// envelope), and a deadline, the time the entry stops being of any use (the
// end of its stale window, or its expiry, exact to the nanosecond; for an
// entry whose envelope has none, the storage's own expiry, if any). Expired
// and corrupt entries are not exported. import writes each entry with the
// time it has left, deadline minus now, and skips those whose deadline has
// passed. So a cache can be moved between Badger and Redis, or a
// directory seeded in CI from a file.
//
// The format, version 1 (integers big-endian, lengths minimal uvarints,
// checksums CRC-32C):
//
//	header   "gecaso-dump\n", version (1 byte), created (Unix ns, 8 bytes),
//	         checksum of the header (4 bytes)
//	record   'r', key length, key, deadline (Unix ns, 0: never, 8 bytes),
//	         value length, value, checksum of the record (4 bytes)
//	end      'e', number of records (8 bytes), checksum of every byte
//	         before the end record (4 bytes), checksum of the end record (4)
//
// Both commands stream: they hold a few entries in memory at a time,
// whatever the size of the cache. export writes to a temporary file beside
// FILE and renames it when complete. import checks each record before
// writing it and the end record last; a truncated or damaged file stops it
// with an error that says where and how many entries it imported before.
// Those entries stay in the target, each whole and valid (writing is not
// undone: a cache with some entries is still a good cache), and importing a
// complete file again overwrites them; a killed import leaves the target
// just as usable. A newer format version is refused with a message naming
// it.
//
// # Progress
//
// Commands that read a whole cache show a progress bar on stderr when a
// run lasts more than a second and stderr is a terminal; never in scripts
// or pipes.
package main
