/**
 * CSRF defence for the admin page's POSTs (login and logout), besides the SameSite=Strict
 * cookie and the logout form's per-session token: a browser's cross-site POST carries an
 * `Origin` (or `Sec-Fetch-Site`) naming another site, which is refused here.
 * @module
 */

/** True when the request comes from a page of this very origin (or from no browser page at all). */
export function sameOrigin(headers: { origin?: string; host?: string; secFetchSite?: string }): boolean {
  const { origin, host, secFetchSite } = headers;
  if (secFetchSite !== undefined && secFetchSite !== "same-origin" && secFetchSite !== "none") return false;
  // Browsers send Origin with every POST; curl and friends send neither, and cannot be forged into it.
  if (origin === undefined) return true;
  if (origin === "null" || host === undefined) return false;
  try {
    return new URL(origin).host.toLowerCase() === host.toLowerCase();
  } catch {
    return false;
  }
}
