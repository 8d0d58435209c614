import type { App } from '@platform/service-kit';
import { buildApp } from '@platform/testing';
import { definition } from '../src/app';

/** The real gateway-sandbox app. */
export function build(env: Record<string, string> = {}): Promise<App> {
  return buildApp(definition, env);
}
