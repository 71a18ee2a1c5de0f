/**
 * The desktop platform the web view runs on, from its user agent (WebKitGTK on Linux, WebView2 on
 * Windows, WKWebView on macOS). app.css picks each platform's font stacks by `<html data-os>`.
 */
export type Os = 'linux' | 'windows' | 'macos';

export function osFromUserAgent(ua: string): Os {
  if (/Windows/.test(ua)) return 'windows';
  if (/Macintosh|Mac OS X/.test(ua)) return 'macos';
  return 'linux';
}

/** Sets `<html data-os>`; called before the first paint. */
export function markPlatform(doc: Document = document, ua: string = navigator.userAgent): Os {
  const os = osFromUserAgent(ua);
  doc.documentElement.dataset.os = os;
  return os;
}
