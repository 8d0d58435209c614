/** The platform's release, shown in every service's OpenAPI document. */
export const PLATFORM_VERSION = '0.1.0';
