// Memory of a server that parks one worker thread per waiting long poll
// (docs/benchmarks.md, "converge and authority memory"): what each parked
// thread keeps resident, and how the process keeps that small.
#pragma once

namespace tpmesh::net {

// Call first thing in main() of a program that serves with many worker
// threads (the authority), before any thread starts. glibc's per-thread
// malloc cache (tcache) keeps up to 7 freed chunks of each small size per
// thread, memory no other thread can reuse: about 19 KiB for every worker
// that has served a TLS handshake. glibc reads that setting only at program
// start, so this re-executes the program (same process id, arguments,
// descriptors and signal mask) once with glibc.malloc.tcache_count=0 added
// to GLIBC_TUNABLES, unless GLIBC_TUNABLES already sets tcache_count (then
// that is kept; this is also how the re-executed image knows to go on). If
// the re-exec fails (no /proc) the program goes on with glibc's cache. The
// number of malloc arenas is left at glibc's default (8 per core): limiting
// it saved little memory and would make every allocation contend on a big
// machine.
void TuneMallocForManyThreads(char** argv);

// For a handler about to block its server worker thread for long (a long
// poll): frees OpenSSL's per-thread state (error queue, per-thread random
// generators, about 6 KiB; OpenSSL recreates it on the thread's next use).
// Thread-safe; affects only the calling thread.
void ReleaseIdleThreadMemory();

}  // namespace tpmesh::net
