#pragma once
#include <xxhash.h>
#if defined(__x86_64__)
/* The _dispatch variants pick SSE2, AVX2 or AVX-512 at run time (the same hash values); Debian builds
   the plain ones for SSE2 only. */
#define XXH_DISPATCH_DISABLE_REPLACE
#include <xxh_x86dispatch.h>
#endif
