/* Stand-in for Windows' bcryptprimitives.dll, built by tools/wine/setup.sh with mingw-w64.
 *
 * deno.exe and bun.exe both import ProcessPrng from bcryptprimitives.dll (their import tables
 * name nothing else from it), and Wine 8 ships no such DLL, so neither binary starts. This one
 * forwards to BCryptGenRandom, which Wine implements, so the bytes still come from the system's
 * generator: nothing is weaker than on Windows, it only takes one more call to get there.
 */
#include <windows.h>
#include <bcrypt.h>

/* Windows documents ProcessPrng as always succeeding; BCryptGenRandom takes a ULONG length, so
 * a larger request is filled in pieces. A failure is still reported (FALSE) instead of handing
 * back a buffer that was not filled. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
    if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG))) {
      return FALSE;
    }
    data += n;
    len -= n;
  }
  return TRUE;
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, LPVOID reserved) {
  (void)instance;
  (void)reason;
  (void)reserved;
  return TRUE;
}
