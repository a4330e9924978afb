// The comparison view: every installed attention variant on the current file, side by side.
// A webview with a strict CSP (nonce scripts, no remote resources) styled with the theme's variables.
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { CompareRow } from '../worker/protocol';
import type { EngineHost } from './engineHost';

export const CONTEXTS = [256, 1024, 4096, 16384];

export class CompareView implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly host: EngineHost,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  async show(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      void vscode.window.showInformationMessage(
        'Linea: open a file to compare the attention variants on it.',
      );
      return;
    }
    const media = vscode.Uri.joinPath(this.extensionUri, 'media');
    if (!this.panel) {
      this.panel = vscode.window.createWebviewPanel(
        'linea.compare',
        'Linea: Attention Variants',
        vscode.ViewColumn.Beside,
        {
          enableScripts: true,
          localResourceRoots: [media],
        },
      );
      this.panel.onDidDispose(() => (this.panel = undefined));
      this.panel.webview.html = this.html(this.panel.webview, media);
    } else this.panel.reveal();
    const panel = this.panel;
    const doc = editor.document;
    const file = vscode.workspace.asRelativePath(doc.uri);
    void panel.webview.postMessage({ type: 'running', file });
    try {
      const rows: CompareRow[] = await this.host.compare({
        text: doc.getText(),
        offset: doc.offsetAt(editor.selection.active),
        languageId: doc.languageId,
        contexts: CONTEXTS,
        options: { maxTokens: 24 },
      });
      void panel.webview.postMessage({ type: 'results', file, contexts: CONTEXTS, rows });
    } catch (e) {
      this.log.error(`comparison failed: ${(e as Error).message}`);
      void panel.webview.postMessage({ type: 'error', message: (e as Error).message });
    }
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = randomBytes(16).toString('base64');
    const uri = (f: string) => webview.asWebviewUri(vscode.Uri.joinPath(media, f)).toString();
    const csp = [
      "default-src 'none'",
      `img-src ${webview.cspSource}`,
      `style-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join('; ');
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri('compare.css')}">
<title>Linea: Attention Variants</title>
</head>
<body>
<h1>Attention variants on <span id="file">…</span></h1>
<p id="status" class="status">Running every installed model on this file…</p>
<section class="chart-box"><canvas id="latency" aria-label="Per-token latency against context length"></canvas></section>
<table id="results"><thead><tr><th>Variant</th><th>Model</th><th>Time to suggestion</th><th>State at 16k tokens</th><th>Suggestion at the cursor</th><th title="The probability the model gave the suggestion's first line; while typing, the editor hides those under linea.minConfidence">First line's probability</th></tr></thead><tbody></tbody></table>
<script nonce="${nonce}" src="${uri('vendor/chart.umd.min.js')}"></script>
<script nonce="${nonce}" src="${uri('compare.js')}"></script>
</body>
</html>`;
  }

  dispose(): void {
    this.panel?.dispose();
  }
}
