// The comparison view's data: every installed variant on the current file.
import * as path from 'node:path';
import type { Engine } from '../engine/engine';
import { openEngine } from '../engine/models';
import { measureContext } from '../engine/runtime/measure';
import type { CompareParams, CompareRow } from './protocol';

export async function compareModels(params: CompareParams): Promise<CompareRow[]> {
  const rows: CompareRow[] = [];
  for (const folder of params.folders) {
    let engine: Engine | null = null;
    try {
      engine = await openEngine(folder, params.runtime, { syncReadLimit: 2048 });
      const session = engine.session;
      engine.open('compare', params.text, params.languageId);
      engine.setCursor('compare', params.offset);
      await engine.flushEncoder('compare');
      const result = await engine.complete('compare', params.offset, params.options);
      const points = [];
      for (const context of params.contexts) points.push(await measureContext(session, context, 5));
      rows.push({
        id: session.manifest.id,
        variant: session.manifest.variant,
        suggestion: result.text,
        confidence: result.confidence,
        ttfsMs: result.timings.totalMs,
        stepMsByContext: points.map((p) => ({ context: p.context, ms: p.stepMs })),
        stateBytesByContext: points.map((p) => ({ context: p.context, bytes: p.stateBytes })),
      });
    } catch (e) {
      rows.push({ id: path.basename(folder), variant: '?', error: (e as Error).message });
    } finally {
      await engine?.dispose();
    }
  }
  return rows;
}
