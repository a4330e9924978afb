// The comparison view's page: renders the results the extension posts (a Chart.js line plot of
// per-token latency against context length, and a table). No network, no inline handlers.
/* global Chart, acquireVsCodeApi */
(function () {
  const vscode = acquireVsCodeApi();
  const $ = (id) => document.getElementById(id);
  let chart = null;

  function css(name) {
    return getComputedStyle(document.body).getPropertyValue(name).trim();
  }

  function bytes(n) {
    if (n >= 1 << 20) return (n / (1 << 20)).toFixed(1) + ' MiB';
    return (n / 1024).toFixed(0) + ' KiB';
  }

  const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7'];

  function contextLabel(n) {
    return n >= 1024 && n % 1024 === 0 ? n / 1024 + 'k' : String(n);
  }

  function render(msg) {
    $('file').textContent = msg.file;
    $('status').textContent = 'Per-token decoder latency against context length (log scale), measured on this machine.';
    const ok = msg.rows.filter((r) => !r.error);
    const datasets = ok.map((r, i) => ({
      label: r.variant,
      data: r.stepMsByContext.map((p) => ({ x: p.context, y: p.ms })),
      borderColor: palette[i % palette.length],
      backgroundColor: palette[i % palette.length],
      tension: 0.2,
    }));
    const contexts = [...new Set(ok.flatMap((r) => r.stepMsByContext.map((p) => p.context)))].sort((a, b) => a - b);
    const fg = css('--vscode-foreground') || '#ccc';
    const grid = css('--vscode-editorWidget-border') || '#444';
    if (chart) chart.destroy();
    chart = new Chart($('latency'), {
      type: 'line',
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        plugins: { legend: { labels: { color: fg } }, title: { display: true, text: 'ms per token', color: fg } },
        scales: {
          x: {
            type: 'logarithmic',
            title: { display: true, text: 'context (tokens)', color: fg },
            ticks: { color: fg, callback: (v) => contextLabel(v) },
            // A log axis puts a tick at every 1-9 x 10^k, whose labels run into each other (9,000 10,000):
            // tick only the measured context lengths.
            afterBuildTicks: (axis) => {
              axis.ticks = contexts.map((value) => ({ value }));
            },
            grid: { color: grid },
          },
          y: { beginAtZero: true, ticks: { color: fg }, grid: { color: grid } },
        },
      },
    });
    const body = $('results').querySelector('tbody');
    body.textContent = '';
    for (const r of msg.rows) {
      const tr = document.createElement('tr');
      const cells = r.error
        ? [r.variant, r.id, '—', '—', 'error: ' + r.error, '—']
        : [
            r.variant,
            r.id,
            r.ttfsMs.toFixed(0) + ' ms',
            bytes(r.stateBytesByContext[r.stateBytesByContext.length - 1].bytes),
            r.suggestion === null ? '(no suggestion)' : r.suggestion,
            r.suggestion === null ? '—' : r.confidence.toFixed(2),
          ];
      cells.forEach((c, i) => {
        const td = document.createElement('td');
        if (i === 4) {
          const code = document.createElement('code');
          code.textContent = c;
          td.appendChild(code);
        } else td.textContent = c;
        tr.appendChild(td);
      });
      body.appendChild(tr);
    }
    document.body.dataset.state = 'done';
  }

  window.addEventListener('message', (event) => {
    const msg = event.data;
    if (msg.type === 'running') {
      $('file').textContent = msg.file;
      $('status').textContent = 'Running every installed model on this file…';
      document.body.dataset.state = 'running';
    } else if (msg.type === 'results') render(msg);
    else if (msg.type === 'error') {
      $('status').textContent = 'Comparison failed: ' + msg.message;
      document.body.dataset.state = 'error';
    }
  });
  vscode.setState({ opened: Date.now() });
})();
