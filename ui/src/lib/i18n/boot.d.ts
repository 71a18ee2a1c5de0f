/**
 * `virtual:i18n-boot` (a plugin in vite.config.ts): the few sections of ja.json and en.json that the
 * first screen shows (`BOOT_SECTIONS`), so that the entry chunk carries neither whole catalogue.
 */
declare module 'virtual:i18n-boot' {
  const boot: Record<'ja' | 'en', Record<string, unknown>>;
  export default boot;
}
