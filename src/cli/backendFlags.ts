// --backend and --dawn, shared by the commands that open a model.
import type { RuntimeOptions } from '../engine/runtime/runtime';
import { parseDawnFlags, type WebGpuOptions } from '../engine/runtime/webgpu';
import { UsageError, type ParsedArgs } from './args';
import { dawnDirs } from './paths';

/** --backend and --dawn as runtime options. */
export function backendOptions(args: ParsedArgs): {
  backend: NonNullable<RuntimeOptions['backend']>;
  webgpu: Required<WebGpuOptions>;
} {
  const backend = (args.flags.get('backend') as string | undefined) ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'auto' && backend !== 'webgpu')
    throw new UsageError(`--backend must be wasm, auto or webgpu, got ${backend}`);
  const dawn = parseDawnFlags(args.flags.get('dawn') as string | undefined);
  return { backend, webgpu: { dawn, addonDirs: dawnDirs() } };
}
