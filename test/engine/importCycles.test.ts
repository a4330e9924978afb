// No import cycle in src/ (ARCHITECTURE.md): a module that both imports and is imported by another
// cannot be understood, tested or moved alone. cli/main.ts once held helpers that bench.ts and
// evaluate.ts imported while it imported them; those helpers now live in cli/paths.ts and
// cli/backendFlags.ts. Type-only imports count too: they tie the files together just the same.
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';

const ROOT = path.resolve(__dirname, '../../..');

/** Relative imports of every .ts file under `dir`, as a graph of paths relative to ROOT. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts')) {
        const text = fs.readFileSync(p, 'utf8');
        const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) =>
          path.relative(ROOT, path.resolve(path.dirname(p), m[1]) + '.ts'),
        );
        graph.set(path.relative(ROOT, p), targets);
      }
    }
  };
  walk(path.join(ROOT, dir));
  return graph;
}

/** One cycle per strongly tied group, each as the path round it ('a -> b -> a'). */
function cycles(graph: Map<string, string[]>): string[] {
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const found: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      const s = state.get(next);
      if (s === 'open') found.push([...stack.slice(stack.indexOf(next)), next].join(' -> '));
      else if (s === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return found;
}

test('the cycle finder finds a planted cycle and passes a tree', () => {
  const planted = new Map([
    ['a.ts', ['b.ts']],
    ['b.ts', ['c.ts']],
    ['c.ts', ['a.ts', 'd.ts']],
    ['d.ts', []],
  ]);
  assert.deepEqual(cycles(planted), ['a.ts -> b.ts -> c.ts -> a.ts']);
  planted.set('c.ts', ['d.ts']);
  assert.deepEqual(cycles(planted), []);
});

test('src/ has no import cycle', () => {
  const graph = importGraph('src');
  assert.ok(graph.size > 30, `read ${graph.size} files`);
  assert.ok(
    graph.get(path.join('src', 'cli', 'bench.ts'))?.includes(path.join('src', 'cli', 'paths.ts')),
    'the graph resolves relative imports',
  );
  assert.deepEqual(cycles(graph), []);
});
