/*
 * testutil.h - helpers shared by the C unit tests (tests/unit/test_*.c) and the bad-file corpus
 * generator (tests/bad/gen_bad.c).
 *
 * Every test_*.c is its own program, so everything here is `static inline`: a helper a program
 * does not use costs nothing and draws no -Wunused-function warning.
 *
 * It includes, by purpose (each header includes the ones it builds on):
 *  - tu_check.h    failing a check, TU_EXPECT, temporary directory, file helpers, random numbers
 *  - tu_bytes.h    little-endian accessors, FORMAT.md offsets, file surgery
 *  - tu_small.h    opening with an expected code; the small reference cache
 *  - tu_layout.h   an independent layout check from FORMAT.md and the raw bytes
 *  - tu_badcases.h the bad-file cases and the judge of the library's verdict
 *
 * Only the public header is used: the tests link libtensorcache.a and nothing of lib/ or tools/.
 *
 * Define TU_NO_CMOCKA before including this file to use it outside cmocka (gen_bad.c): failed
 * checks then print a message and exit(1).
 */
#ifndef TC_TESTUTIL_H
#define TC_TESTUTIL_H

#include "tu_badcases.h"

#endif /* TC_TESTUTIL_H */
