// tracefold viewer: draws the rollout (or the diff of two) held as JSON in
// the element #data. No network, no dependencies; every text goes into the
// page through textContent, never as markup.
'use strict';
(async function () {
  const DATA = await readData(document.getElementById('data'));
  performance.mark('tracefold:data');
  const BRIEF = 240;      // characters of an item shown before "expand"
  const BODY = 2000;      // characters of a body shown before "expand"
  const CALL_KINDS = new Set(['inference', 'tool_call', 'code_cell', 'terminal']);

  // The page's data: JSON, gzip-compressed, in base64.
  async function readData(el) {
    const text = el.textContent.trim();
    if (el.dataset.encoding !== 'gzip+base64') return JSON.parse(text);
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return JSON.parse(await new Response(stream).text());
  }

  // ---- DOM helpers -------------------------------------------------------

  function h(tag, attrs, ...kids) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'text') el.textContent = v;
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return el;
  }

  function kv(pairs) {
    const dl = h('dl', { class: 'kv' });
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === '') continue;
      dl.append(h('dt', { text: k }), h('dd', {}, v));
    }
    return dl;
  }

  function badge(status) {
    return h('span', { class: 'badge st-' + status, text: status });
  }

  // A long text cut to `limit` characters with a control that shows it all.
  function body(text, limit, tag) {
    const el = h(tag || 'pre', {});
    const cut = limit || BODY;
    if (text.length <= cut) {
      el.textContent = text;
      return el;
    }
    el.textContent = text.slice(0, cut) + '…';
    const more = h('button', { class: 'expand', type: 'button',
      text: 'expand (' + (text.length - cut).toLocaleString() + ' more characters)' });
    more.addEventListener('click', () => {
      const open = more.dataset.open === '1';
      el.textContent = open ? text.slice(0, cut) + '…' : text;
      more.dataset.open = open ? '0' : '1';
      more.textContent = open ? 'expand (' + (text.length - cut).toLocaleString() + ' more characters)' : 'collapse';
    });
    return h('div', {}, el, more);
  }

  function pretty(text) {
    const t = text.trimStart();
    if ((t.startsWith('{') || t.startsWith('[')) && text.length < 4000000) {
      try { return JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
    }
    return text;
  }

  function ms(a, b) {
    return (a !== null && a !== undefined && b !== null && b !== undefined) ? (b - a) + ' ms' : null;
  }

  function seqs(w) {
    if (!w) return null;
    return w.ended_seq === null || w.ended_seq === undefined ? w.started_seq + ' – (open)' : w.started_seq + ' – ' + w.ended_seq;
  }

  // ---- One rollout's data ------------------------------------------------

  class Rollout {
    constructor(d) {
      this.view = d.view;
      this.state = d.state;
      this.requests = d.requests || {};
      this.payloads = d.payloads || {};
      this.threads = new Map(d.view.threads.map((t) => [t.thread_id, t]));
      this.column = new Map(d.view.threads.map((t, i) => [t.thread_id, i]));
      this.lanes = new Map();
      for (const t of d.view.threads) for (const e of t.lane) this.lanes.set(e.kind + ':' + e.id, { e, t });
      this.resolved = new Map();
    }

    path(threadId) {
      const t = this.threads.get(threadId);
      return t ? t.agent_path : threadId;
    }

    // The request items of inference call `id`, rebuilt from the deltas.
    request(id) {
      if (this.resolved.has(id)) return this.resolved.get(id);
      const chain = [];
      let at = id;
      while (at && !this.resolved.has(at) && this.requests[at]) {
        chain.push(at);
        at = this.requests[at].after;
      }
      for (let i = chain.length - 1; i >= 0; i--) {
        const d = this.requests[chain[i]];
        const base = d.after ? (this.resolved.get(d.after) || []) : [];
        this.resolved.set(chain[i], base.slice(0, d.keep).concat(d.add));
      }
      return this.resolved.get(id) || [];
    }

    // Which collection holds `id`: [kind, id], kind as the lane names it.
    find(id) {
      const s = this.state;
      const tables = [['inference', s.inference_calls], ['tool_call', s.tool_calls],
        ['code_cell', s.code_cells], ['terminal', s.terminal_operations],
        ['compaction', s.compactions], ['turn', s.codex_turns], ['thread', s.threads],
        ['edge', s.interaction_edges], ['item', s.conversation_items],
        ['session', s.terminal_sessions], ['payload', s.raw_payloads]];
      for (const [kind, table] of tables) if (table && table[id]) return [kind, id];
      return null;
    }

    // The lane entry whose seqs contain `seq`, the narrowest.
    atSeq(seq) {
      let best = null;
      for (const { e } of this.lanes.values()) {
        const end = e.ended_seq === null || e.ended_seq === undefined ? e.started_seq : e.ended_seq;
        if (e.started_seq <= seq && seq <= end && (!best || end - e.started_seq < best[1])) best = [e, end - e.started_seq];
      }
      return best ? [best[0].kind, best[0].id] : null;
    }

    payload(rawId) {
      const entry = this.state.raw_payloads ? this.state.raw_payloads[rawId] : null;
      if (!entry) return null;
      return { entry, body: this.payloads[entry.blake3] || null };
    }
  }

  // ---- Rendering of objects ----------------------------------------------

  // Renders the detail of objects of one rollout; `go(kind, id)` selects.
  class Detail {
    constructor(R, go) { this.R = R; this.go = go; }

    link(kind, id, text) {
      if (id === null || id === undefined) return null;
      return h('a', { href: '#', class: 'link', 'data-kind': kind, 'data-id': id, text: text || id,
        onclick: (ev) => { ev.preventDefault(); this.go(kind, id); } });
    }

    threadLink(threadId) { return this.link('thread', threadId, this.R.path(threadId)); }

    payloadBox(rawId, title) {
      const p = this.R.payload(rawId);
      if (!p) return h('div', { class: 'muted', text: (title ? title + ': ' : '') + 'payload ' + rawId + ' (not in the state)' });
      const { entry, body: b } = p;
      if (/^0{64}$/.test(entry.blake3) && !entry.size_bytes) {
        // A state written by the reference reducer names payloads by path
        // only: no hash, no size.
        return h('div', { class: 'muted', text: (title ? title + ': ' : '') + 'payload ' + rawId + ' (' + (entry.path || 'no path') + '; the state gives no hash or size)' });
      }
      const head = h('div', { class: 'part-label' },
        (title ? title + ' · ' : '') + (entry.extension_kind ? entry.extension_kind.type : entry.kind.type) + ' · ' +
        entry.size_bytes.toLocaleString() + ' bytes · ', h('span', { class: 'mono', title: entry.blake3, text: entry.blake3.slice(0, 16) + '…' }));
      const box = h('div', { class: 'payload' }, head);
      if (b && b.text !== undefined) {
        box.append(body(pretty(b.text)));
        if (b.truncated) box.append(h('div', { class: 'muted', text: 'cut at ' + b.text.length.toLocaleString() + ' bytes in the page; all of it: tracefold payload ' + entry.blake3 }));
      } else {
        box.append(h('div', { class: 'muted', text: ((b && b.note) || 'not in the page') + '; read it with: tracefold payload ' + entry.blake3 }));
      }
      return box;
    }

    part(p) {
      switch (p.type) {
        case 'text': return body(p.text, BODY);
        case 'summary': return h('div', {}, h('div', { class: 'part-label', text: 'reasoning summary' }), body(p.text, BODY));
        case 'encoded': return h('div', { class: 'encoded', text: 'encrypted ' + p.label + ' (' + p.value.length.toLocaleString() + ' characters, not readable)' });
        case 'json': return h('div', {}, h('div', { class: 'part-label', text: 'json' }), body(p.summary, BODY),
          h('details', {}, h('summary', { text: 'the payload it came from' }), this.payloadBox(p.raw_payload_id)));
        case 'code': return h('div', {}, h('div', { class: 'part-label', text: p.language }), body(p.source, BODY));
        case 'payload_ref': return this.payloadBox(p.raw_payload_id, p.label);
        default: return h('pre', { text: JSON.stringify(p) });
      }
    }

    // One conversation item; `brief` shows its first characters only.
    item(id, opts) {
      const o = opts || {};
      const it = this.R.state.conversation_items[id];
      if (!it) return h('div', { class: 'item', text: id + ' (unknown item)' });
      const cls = ['item', 'r-' + it.role, o.isNew ? 'new' : '', it.kind === 'compaction_marker' ? 'compaction-marker' : ''].join(' ');
      const head = h('div', { class: 'ih' },
        h('span', { class: 'role', text: it.role }),
        h('span', { text: it.kind.replace(/_/g, ' ') }),
        it.channel ? h('span', { text: '· ' + it.channel }) : null,
        it.agent_message ? h('span', { text: '· ' + it.agent_message.author + ' → ' + it.agent_message.recipient }) : null,
        it.call_id ? h('span', { class: 'mono', text: '· ' + it.call_id }) : null,
        o.isNew ? h('span', { class: 'newtag', text: 'new' }) : null,
        h('span', { class: 'mono muted', text: id }),
        ...it.produced_by.map((p) => this.producer(p)));
      const el = h('div', { class: cls, 'data-item': id }, head);
      const parts = it.body && it.body.parts ? it.body.parts : [];
      if (o.brief) {
        const text = parts.map((p) => p.type === 'encoded' ? '[encrypted ' + p.label + ']' : (p.text || p.summary || p.source || p.label || '')).join(' ');
        const short = h('div', { class: 'brief', text: text.length > BRIEF ? text.slice(0, BRIEF) + '…' : text });
        if (text.length > BRIEF || parts.some((p) => p.type !== 'text')) {
          short.classList.add('link');
          short.title = 'show the whole item';
          short.addEventListener('click', () => short.replaceWith(...parts.map((p) => this.part(p))));
        }
        el.append(short);
      } else {
        for (const p of parts) el.append(this.part(p));
      }
      return el;
    }

    producer(p) {
      switch (p.type) {
        case 'inference': return this.link('inference', p.inference_call_id, 'from call');
        case 'tool': return this.link('tool_call', p.tool_call_id, 'from tool');
        case 'code_cell': return this.link('code_cell', p.code_cell_id, 'from cell');
        case 'compaction': return this.link('compaction', p.compaction_id, 'from compaction');
        case 'interaction_edge': return this.link('edge', p.edge_id, 'via edge');
        default: return h('span', { text: '· ' + p.type.replace(/_/g, ' ') });
      }
    }

    raw(obj) {
      return h('details', {}, h('summary', { text: 'state object' }), h('pre', { text: JSON.stringify(obj, null, 2) }));
    }

    render(kind, id) {
      const fn = {
        thread: this.thread, turn: this.turn, inference: this.inference, tool_call: this.tool,
        code_cell: this.cell, terminal: this.terminal, compaction: this.compaction, edge: this.edge,
        item: (i) => h('div', {}, h('h3', { text: 'Conversation item' }), this.item(i)),
        session: this.session, payload: (i) => h('div', {}, h('h3', { text: 'Payload' }), this.payloadBox(i)),
        rollout: this.rollout, diagnostic: this.diagnostic,
      }[kind];
      if (!fn) return h('p', { class: 'muted', text: 'nothing to show for ' + kind });
      return fn.call(this, id);
    }

    // A diagnostic: what the reducer said, the objects it names (linked
    // when the state holds them) and the work around its seq.
    diagnostic(index) {
      const d = (this.R.state.diagnostics || [])[Number(index)];
      if (!d) return h('p', { text: 'unknown diagnostic ' + index });
      const named = Object.entries(d.ids || {}).map(([k, id]) => {
        const found = this.R.find(id);
        return [k, found ? this.link(found[0], found[1]) : id + ' (not in the state)'];
      });
      const at = d.seq !== null && d.seq !== undefined ? this.R.atSeq(d.seq) : null;
      return h('div', {},
        h('h3', { text: 'Diagnostic · ' + d.code }),
        h('pre', { text: d.message }),
        kv([['seq', d.seq === null || d.seq === undefined ? null : String(d.seq)], ['event', d.event_type], ...named,
          ['work at that seq', at ? this.link(at[0], at[1]) : (d.seq !== null && d.seq !== undefined ? 'none: the event opened nothing the state kept' : null)]]));
    }

    rollout() {
      const v = this.R.view;
      return h('div', {}, h('h3', {}, 'Rollout ', badge(v.status)),
        kv([['id', v.rollout_id], ['threads', String(v.threads.length)], ['diagnostics', String(v.diagnostics.length)]]));
    }

    thread(id) {
      const t = this.R.threads.get(id);
      const s = this.R.state.threads[id];
      if (!t || !s) return h('p', { text: 'unknown thread ' + id });
      const u = t.usage;
      const edges = this.R.view.edges.filter((e) => e.from_thread_id === id || e.to_thread_id === id);
      const first = t.lane.find((e) => e.kind === 'inference');
      return h('div', {},
        h('h3', {}, 'Thread ' + t.agent_path, badge(t.status)),
        kv([['thread id', id], ['nickname', t.nickname], ['model', s.default_model],
          ['parent', t.parent_thread_id ? this.threadLink(t.parent_thread_id) : null],
          ['origin', s.origin.type === 'spawned' ? 'spawned' + (s.origin.task_name ? ' for ' + s.origin.task_name : '') + (s.origin.agent_role ? ' as ' + s.origin.agent_role : '') : s.origin.type],
          ['seqs', seqs(s.execution)], ['turns', String(t.turns)], ['inference calls', String(t.inference_calls)],
          ['tool calls', String(t.tool_calls)], ['compactions', String(t.compactions)],
          ['first call', first ? this.link('inference', first.id, first.label) : null]]),
        h('h2', { text: 'tokens (all calls)' }),
        kv([['input', u.input_tokens.toLocaleString()], ['cached input', u.cached_input_tokens.toLocaleString()],
          ['output', u.output_tokens.toLocaleString()], ['reasoning output', u.reasoning_output_tokens.toLocaleString()],
          ['cache writes', u.cache_write_input_tokens.toLocaleString()]]),
        edges.length ? h('h2', { text: 'edges' }) : null,
        h('div', { class: 'edge-list' }, edges.map((e) => h('div', {}, this.link('edge', e.edge_id, e.kind), ' ',
          this.threadLink(e.from_thread_id), ' → ', this.threadLink(e.to_thread_id)))),
        this.raw(s));
    }

    turn(id) {
      const s = this.R.state.codex_turns[id];
      if (!s) return h('p', { text: 'unknown turn ' + id });
      const entries = [...this.R.lanes.values()].filter(({ e }) => e.codex_turn_id === id && e.kind !== 'turn');
      return h('div', {},
        h('h3', {}, 'Turn ' + id, badge(s.execution.status)),
        kv([['thread', this.threadLink(s.thread_id)], ['seqs', seqs(s.execution)],
          ['duration', ms(s.execution.started_at_unix_ms, s.execution.ended_at_unix_ms)]]),
        s.input_item_ids && s.input_item_ids.length ? h('h2', { text: 'input' }) : null,
        (s.input_item_ids || []).map((i) => this.item(i)),
        h('h2', { text: 'work' }),
        entries.map(({ e }) => h('div', {}, this.link(e.kind, e.id, e.kind.replace('_', ' ') + ': ' + e.label), ' ', e.status !== 'completed' ? badge(e.status) : null)),
        this.raw(s));
    }

    inference(id) {
      const c = this.R.state.inference_calls[id];
      if (!c) return h('p', { text: 'unknown inference call ' + id });
      const request = this.R.request(id);
      const prevId = this.R.requests[id] ? this.R.requests[id].after : null;
      const before = new Set(prevId ? this.R.request(prevId) : []);
      const fresh = request.filter((i) => !before.has(i)).length;
      const u = c.usage;
      const onlyNew = h('input', { type: 'checkbox' });
      const list = h('div', { class: 'request' });
      const fill = () => {
        list.replaceChildren(...request.filter((i) => !onlyNew.checked || !before.has(i))
          .map((i) => this.item(i, { isNew: !before.has(i), brief: before.has(i) })));
      };
      onlyNew.addEventListener('change', fill);
      fill();
      return h('div', {},
        h('h3', {}, 'Inference call · ' + c.model, badge(c.execution.status)),
        kv([['call id', id], ['thread', this.threadLink(c.thread_id)], ['turn', this.link('turn', c.codex_turn_id)],
          ['seqs', seqs(c.execution)], ['duration', ms(c.execution.started_at_unix_ms, c.execution.ended_at_unix_ms)],
          ['provider', c.provider_name], ['response id', c.response_id], ['upstream request', c.upstream_request_id],
          ['tokens', u ? u.input_tokens.toLocaleString() + ' in (' + u.cached_input_tokens.toLocaleString() + ' cached), ' +
            u.output_tokens.toLocaleString() + ' out (' + u.reasoning_output_tokens.toLocaleString() + ' reasoning)' : null],
          ['error', c.error], ['previous call', prevId ? this.link('inference', prevId) : null]]),
        h('h2', {}, 'request: ' + request.length + ' items, ' + fresh + ' new since the thread\'s previous call ',
          h('label', { class: 'muted' }, onlyNew, ' only new')),
        list,
        h('h2', { text: 'response: ' + c.response_item_ids.length + ' items' }),
        c.response_item_ids.map((i) => this.item(i)),
        c.tool_call_ids_started_by_response.length ? h('h2', { text: 'tool calls it started' }) : null,
        c.tool_call_ids_started_by_response.map((t) => h('div', {}, this.link('tool_call', t))),
        h('h2', { text: 'payloads' }),
        c.raw_request_payload_id ? this.payloadBox(c.raw_request_payload_id, 'request') : null,
        c.raw_response_payload_id ? this.payloadBox(c.raw_response_payload_id, 'response') : null,
        this.raw(Object.assign({}, c, { request_item_ids: request })));
    }

    tool(id) {
      const c = this.R.state.tool_calls[id];
      if (!c) return h('p', { text: 'unknown tool call ' + id });
      const kind = c.kind.type === 'other' ? (c.kind.name || 'other') : c.kind.type;
      const lane = this.R.lanes.get('tool_call:' + id);
      const cell = Object.values(this.R.state.code_cells || {}).find((x) => (x.nested_tool_call_ids || []).includes(id) || (x.wait_tool_call_ids || []).includes(id));
      return h('div', {},
        h('h3', {}, 'Tool call · ' + kind, badge(c.execution.status)),
        lane ? h('div', { class: 'muted', text: lane.e.label }) : null,
        kv([['tool call id', id], ['thread', this.threadLink(c.thread_id)], ['turn', this.link('turn', c.started_by_codex_turn_id)],
          ['requester', c.requester.type.replace(/_/g, ' ')], ['model-visible id', c.model_visible_call_id], ['mcp id', c.mcp_call_id],
          ['seqs', seqs(c.execution)], ['duration', ms(c.execution.started_at_unix_ms, c.execution.ended_at_unix_ms)],
          ['code cell', cell ? this.link('code_cell', cell.code_cell_id) : null],
          ['terminal', c.terminal_operation_id ? this.link('terminal', c.terminal_operation_id) : null]]),
        h('h2', { text: 'input' }),
        c.raw_invocation_payload_id ? this.payloadBox(c.raw_invocation_payload_id, 'invocation') : h('p', { class: 'muted', text: 'none recorded' }),
        (c.model_visible_call_item_ids || []).map((i) => this.item(i)),
        h('h2', { text: 'output' }),
        c.raw_result_payload_id ? this.payloadBox(c.raw_result_payload_id, 'result') : h('p', { class: 'muted', text: 'none recorded' }),
        (c.model_visible_output_item_ids || []).map((i) => this.item(i)),
        (c.raw_runtime_payload_ids || []).length ? h('details', {}, h('summary', { text: c.raw_runtime_payload_ids.length + ' runtime events' }),
          c.raw_runtime_payload_ids.map((p) => this.payloadBox(p, 'runtime'))) : null,
        this.raw(c));
    }

    cell(id) {
      const c = this.R.state.code_cells[id];
      if (!c) return h('p', { text: 'unknown code cell ' + id });
      const label = (t) => {
        const l = this.R.lanes.get('tool_call:' + t);
        return this.link('tool_call', t, l ? l.e.label : t);
      };
      return h('div', {},
        h('h3', {}, 'Code cell ' + c.model_visible_call_id, badge(c.execution.status)),
        kv([['cell id', id], ['thread', this.threadLink(c.thread_id)], ['turn', this.link('turn', c.codex_turn_id)],
          ['runtime status', c.runtime_status], ['runtime cell', c.runtime_cell_id], ['seqs', seqs(c.execution)],
          ['first response at seq', c.initial_response_seq], ['yielded at seq', c.yielded_seq]]),
        h('h2', { text: 'source' }), body(c.source_js || '', BODY),
        h('h2', { text: 'nested tool calls: ' + c.nested_tool_call_ids.length }),
        c.nested_tool_call_ids.map((t) => h('div', {}, label(t))),
        c.wait_tool_call_ids.length ? h('h2', { text: 'waits: ' + c.wait_tool_call_ids.length }) : null,
        c.wait_tool_call_ids.map((t) => h('div', {}, label(t))),
        h('h2', { text: 'output' }),
        (c.output_item_ids || []).map((i) => this.item(i)),
        (c.raw_response_payload_ids || []).map((p) => this.payloadBox(p, 'response')),
        (c.stored_values_raw_payload_ids || []).map((p) => this.payloadBox(p, 'stored values')),
        this.raw(c));
    }

    terminal(id) {
      const o = this.R.state.terminal_operations[id];
      if (!o) return h('p', { text: 'unknown terminal operation ' + id });
      const r = o.request || {};
      const res = o.result;
      return h('div', {},
        h('h3', {}, 'Terminal · ' + o.kind.replace(/_/g, ' '), badge(o.execution.status)),
        kv([['operation', id], ['terminal', o.terminal_id], ['tool call', this.link('tool_call', o.tool_call_id)],
          ['cwd', r.cwd], ['seqs', seqs(o.execution)], ['exit code', res && res.exit_code !== null ? String(res.exit_code) : null]]),
        h('h2', { text: r.type === 'write_stdin' ? 'stdin' : 'command' }),
        body(r.type === 'write_stdin' ? r.stdin : (r.display_command || (r.command || []).join(' ')), BODY),
        res ? h('h2', { text: 'stdout' }) : h('p', { class: 'muted', text: 'no result recorded' }),
        res ? body(res.stdout || '', BODY) : null,
        res && res.stderr ? h('h2', { text: 'stderr' }) : null,
        res && res.stderr ? body(res.stderr, BODY) : null,
        (o.raw_payload_ids || []).length ? h('details', {}, h('summary', { text: o.raw_payload_ids.length + ' raw events' }),
          o.raw_payload_ids.map((p) => this.payloadBox(p))) : null,
        this.raw(o));
    }

    compaction(id) {
      const c = this.R.state.compactions[id];
      if (!c) return h('p', { text: 'unknown compaction ' + id });
      const requests = (c.request_ids || []).map((r) => this.R.state.compaction_requests[r]).filter(Boolean);
      const kept = new Set(c.replacement_item_ids);
      return h('div', {},
        h('h3', {}, 'Compaction (' + c.mode + ')'),
        kv([['compaction id', id], ['thread', this.threadLink(c.thread_id)], ['turn', this.link('turn', c.codex_turn_id)],
          ['installed at seq', String(c.installed_seq)], ['marker', this.link('item', c.marker_item_id)],
          ['replaced', c.input_item_ids.length + ' items'], ['replacement', c.replacement_item_ids.length + ' items']]),
        h('h2', { text: 'what the replacement kept (' + c.replacement_item_ids.length + ' items)' }),
        c.replacement_item_ids.map((i) => this.item(i)),
        h('h2', { text: 'what it replaced (' + c.input_item_ids.length + ' items' + (c.input_item_ids.some((i) => kept.has(i)) ? ', some kept' : '') + ')' }),
        c.input_item_ids.map((i) => this.item(i, { brief: true })),
        requests.length ? h('h2', { text: 'requests' }) : null,
        requests.map((r) => h('div', {}, kv([['request', r.compaction_request_id], ['model', r.model], ['status', badge(r.execution.status)], ['error', r.error]]),
          r.raw_response_payload_id ? this.payloadBox(r.raw_response_payload_id, 'response') : null)),
        this.raw(c));
    }

    anchor(a) {
      if (!a) return null;
      switch (a.type) {
        case 'thread': return this.threadLink(a.thread_id);
        case 'tool_call': return this.link('tool_call', a.tool_call_id);
        case 'conversation_item': return this.link('item', a.item_id);
        default: return JSON.stringify(a);
      }
    }

    edge(id) {
      const e = this.R.state.interaction_edges[id];
      if (!e) return h('p', { text: 'unknown edge ' + id });
      return h('div', {},
        h('h3', { text: 'Edge · ' + e.kind.replace(/_/g, ' ') }),
        kv([['edge id', id], ['from', this.anchor(e.source)], ['to', this.anchor(e.target)],
          ['duration', ms(e.started_at_unix_ms, e.ended_at_unix_ms)]]),
        (e.carried_item_ids || []).length ? h('h2', { text: 'carried items' }) : null,
        (e.carried_item_ids || []).map((i) => this.item(i)),
        (e.carried_raw_payload_ids || []).map((p) => this.payloadBox(p, 'carried')),
        this.raw(e));
    }

    session(id) {
      const s = this.R.state.terminal_sessions[id];
      return h('div', {}, h('h3', { text: 'Terminal session ' + id }), s ? this.raw(s) : h('p', { text: 'unknown' }));
    }
  }

  // ---- Side panel: tree, edges, diagnostics --------------------------------

  function diagnostics(R, go) {
    const list = R.state.diagnostics || [];
    if (!list.length) return null;
    return h('div', {}, h('h2', { text: 'diagnostics (' + list.length + ')' }),
      list.map((d, i) => h('div', { class: 'diag', 'data-index': i, title: 'show what it names', onclick: () => go('diagnostic', String(i)) },
        (d.seq !== null && d.seq !== undefined ? 'seq ' + d.seq + ': ' : '') + d.code + ': ' + d.message)));
  }

  // ---- Single-rollout page -------------------------------------------------

  function rolloutPage(R) {
    const side = document.getElementById('side');
    const timeline = document.getElementById('timeline');
    const detailPane = document.getElementById('detail');
    const filter = document.getElementById('filter');
    let rows = [];
    let shownThread = null;
    let selected = null;
    const detail = new Detail(R, (kind, id) => select(kind, id, true));

    const v = R.view;
    const sum = (f) => v.threads.reduce((n, t) => n + f(t), 0);
    document.getElementById('headline').append(
      h('b', { text: 'rollout' }), h('span', { class: 'mono', text: v.rollout_id }), ' ', badge(v.status),
      h('span', { class: 'muted', text: ' · ' + v.threads.length + ' threads · ' + sum((t) => t.turns) + ' turns · ' +
        sum((t) => t.inference_calls) + ' inference calls · ' + sum((t) => t.tool_calls) + ' tool calls · ' +
        sum((t) => t.usage.input_tokens).toLocaleString() + ' tokens in, ' + sum((t) => t.usage.output_tokens).toLocaleString() + ' out · ' +
        v.diagnostics.length + ' diagnostics' }));

    const treeButtons = new Map();
    const all = h('button', { class: 'thread selected', type: 'button', 'data-thread': '' }, h('span', { class: 'path', text: 'all threads' }));
    all.addEventListener('click', () => showThread(null));
    side.append(h('h2', { text: 'agents' }), all);
    for (const t of v.threads) {
      const b = h('button', { class: 'thread', type: 'button', 'data-thread': t.thread_id, style: 'padding-left:' + (6 + 14 * t.depth) + 'px' },
        h('span', { class: 'path', text: (t.depth ? '└ ' : '') + t.agent_path }), t.nickname ? ' (' + t.nickname + ')' : '', badge(t.status),
        h('div', { class: 'sub', text: t.turns + ' turns · ' + t.inference_calls + ' calls · ' + t.tool_calls + ' tools · ' +
          t.usage.input_tokens.toLocaleString() + ' in / ' + t.usage.output_tokens.toLocaleString() + ' out' }));
      b.addEventListener('click', () => { showThread(t.thread_id); select('thread', t.thread_id, false); });
      treeButtons.set(t.thread_id, b);
      side.append(b);
    }
    if (v.edges.length) {
      const counts = {};
      for (const e of v.edges) counts[e.kind] = (counts[e.kind] || 0) + 1;
      side.append(h('h2', { text: 'edges (' + v.edges.length + ')' }),
        h('div', { class: 'edge-list' }, Object.entries(counts).map(([k, n]) => h('div', { text: k.replace(/_/g, ' ') + ': ' + n }))));
    }
    const diag = diagnostics(R, (k, i) => select(k, i, true));
    if (diag) side.append(diag);

    function entryEl(e) {
      const mark = e.status === 'completed' ? null : h('span', { class: 'mark st-' + e.status, text: e.status === 'cancelled' ? 'INTERRUPTED' : e.status.toUpperCase() });
      const kindName = { turn: 'turn', inference: 'call', tool_call: 'tool', code_cell: 'cell', terminal: 'term', compaction: 'compaction' }[e.kind];
      return h('div', { class: 'e k-' + e.kind + ' s-' + e.status, 'data-key': e.kind + ':' + e.id, 'data-kind': e.kind, 'data-id': e.id, 'data-seq': e.started_seq, title: e.label },
        h('span', { class: 'kind', text: kindName }), e.kind === 'compaction' ? '⟂ ' + e.label : e.label, mark);
    }

    function drawTimeline() {
      const threads = shownThread ? [R.threads.get(shownThread)] : v.threads;
      const col = new Map(threads.map((t, i) => [t.thread_id, i]));
      const items = [];
      threads.forEach((t, ti) => t.lane.forEach((e, li) => items.push({ seq: e.started_seq, ti, li, e, t })));
      for (const [ei, e] of v.edges.entries()) {
        if (!col.has(e.from_thread_id) && !col.has(e.to_thread_id)) continue;
        items.push({ seq: e.seq === null || e.seq === undefined ? Infinity : e.seq, ti: -1, li: ei, edge: e });
      }
      items.sort((x, y) => x.seq - y.seq || x.ti - y.ti || x.li - y.li);
      // One grid row element per entry, laid out on its own (and skipped
      // while off screen): one grid of thousands of placed cells is slow to
      // lay out.
      const cols = '4.5em repeat(' + threads.length + ', minmax(15em, 1fr))';
      const grid = h('div', { id: 'lanes', style: '--cols:' + cols });
      const head = h('div', { class: 'lrow lane-heads' }, h('div', { class: 'lane-head seq', text: 'seq' }));
      threads.forEach((t) => head.append(h('div', { class: 'lane-head', text: t.agent_path, title: t.thread_id })));
      grid.append(head);
      rows = [];
      items.forEach((it) => {
        const seqEl = h('div', { class: 'seq', text: it.seq === Infinity ? '' : String(it.seq) });
        let el;
        if (it.edge) {
          const a = col.has(it.edge.from_thread_id) ? col.get(it.edge.from_thread_id) : col.get(it.edge.to_thread_id);
          const b = col.has(it.edge.to_thread_id) ? col.get(it.edge.to_thread_id) : a;
          const lo = Math.min(a, b), hi = Math.max(a, b);
          el = h('div', { class: 'e k-edge', 'data-kind': 'edge', 'data-id': it.edge.edge_id, style: 'grid-column:' + (lo + 2) + ' / ' + (hi + 3) },
            it.edge.kind.replace(/_/g, ' ') + ': ' + R.path(it.edge.from_thread_id) + ' → ' + R.path(it.edge.to_thread_id));
          el.dataset.key = 'edge:' + it.edge.edge_id;
        } else {
          el = entryEl(it.e);
          el.style.gridColumn = it.ti + 2;
        }
        const rowEl = h('div', { class: 'lrow' }, seqEl, el);
        grid.append(rowEl);
        rows.push({ el, rowEl, text: null, it });
      });
      timeline.replaceChildren(grid);
      applyFilter();
      if (selected) mark(selected[0], selected[1], false);
    }

    function searchText(row) {
      if (row.text !== null) return row.text;
      const it = row.it;
      let t = it.edge ? it.edge.kind + ' ' + it.edge.edge_id + ' ' + R.path(it.edge.from_thread_id) + ' ' + R.path(it.edge.to_thread_id)
        : it.e.kind + ' ' + it.e.id + ' ' + it.e.label + ' ' + it.e.status;
      if (it.e && it.e.kind === 'inference') {
        const c = R.state.inference_calls[it.e.id];
        for (const i of (c ? c.response_item_ids : [])) {
          const item = R.state.conversation_items[i];
          if (item) for (const p of item.body.parts) t += ' ' + (p.text || p.summary || p.source || '');
        }
      }
      row.text = t.toLowerCase();
      return row.text;
    }

    function applyFilter() {
      const q = filter.value.trim().toLowerCase();
      for (const row of rows) {
        row.rowEl.classList.toggle('hidden', q !== '' && !searchText(row).includes(q));
      }
    }

    function showThread(id) {
      shownThread = id;
      all.classList.toggle('selected', id === null);
      for (const [tid, b] of treeButtons) b.classList.toggle('selected', tid === id);
      drawTimeline();
    }

    function mark(kind, id, scroll) {
      for (const el of timeline.querySelectorAll('.e.selected')) el.classList.remove('selected');
      const el = timeline.querySelector('[data-key="' + CSS.escape(kind + ':' + id) + '"]');
      if (el) {
        el.classList.add('selected');
        if (scroll) el.scrollIntoView({ block: 'nearest' });
      }
    }

    function select(kind, id, scroll) {
      selected = [kind, id];
      const lane = R.lanes.get(kind + ':' + id);
      if (shownThread && lane && lane.t.thread_id !== shownThread) showThread(null);
      detailPane.replaceChildren(detail.render(kind, id));
      detailPane.scrollTop = 0;
      mark(kind, id, scroll);
      try { history.replaceState(null, '', '#' + encodeURIComponent(kind + ':' + id)); } catch (e) { /* file:// may refuse */ }
    }

    timeline.addEventListener('click', (ev) => {
      const el = ev.target.closest('.e');
      if (el) select(el.dataset.kind, el.dataset.id, false);
    });
    filter.addEventListener('input', applyFilter);

    // The next (dir 1) or previous (-1) visible call from the selection's
    // row, whatever the selection is.
    function step(dir) {
      const isCall = (r) => r.it.e && CALL_KINDS.has(r.it.e.kind) && !r.rowEl.classList.contains('hidden');
      let at = selected ? rows.findIndex((r) => r.el.dataset.key === selected[0] + ':' + selected[1]) : -1;
      if (at < 0) at = dir > 0 ? -1 : rows.length;
      for (let i = at + dir; i >= 0 && i < rows.length; i += dir) {
        if (isCall(rows[i])) return select(rows[i].it.e.kind, rows[i].it.e.id, true);
      }
    }

    keys({
      next: () => step(1), previous: () => step(-1),
      thread: () => {
        const ids = v.threads.map((t) => t.thread_id);
        const next = ids[(ids.indexOf(shownThread) + 1) % ids.length];
        if (next) { showThread(next); select('thread', next, false); }
      },
      all: () => showThread(null),
    });

    drawTimeline();
    performance.mark('tracefold:timeline');
    const hash = decodeURIComponent(location.hash.slice(1));
    const at = hash.indexOf(':');
    if (at > 0 && R.find(hash.slice(at + 1))) select(hash.slice(0, at), hash.slice(at + 1), true);
    else if (v.threads.length) select('thread', v.threads[0].thread_id, false);
  }

  // ---- Keyboard ---------------------------------------------------------------

  function keys(actions) {
    const filter = document.getElementById('filter');
    const help = document.getElementById('help');
    document.getElementById('help-button').addEventListener('click', () => { help.hidden = !help.hidden; });
    document.addEventListener('keydown', (ev) => {
      if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
      if (ev.target === filter) {
        if (ev.key === 'Escape') { filter.value = ''; filter.dispatchEvent(new Event('input')); filter.blur(); }
        else if (ev.key === 'Enter') filter.blur();
        return;
      }
      if (ev.target instanceof HTMLInputElement) return;
      const act = { j: 'next', ArrowDown: 'next', k: 'previous', ArrowUp: 'previous', t: 'thread', a: 'all' }[ev.key];
      if (act && actions[act]) { ev.preventDefault(); actions[act](); return; }
      if (ev.key === '/') { ev.preventDefault(); filter.focus(); filter.select(); }
      else if (ev.key === '?') help.hidden = !help.hidden;
      else if (ev.key === 'Escape') { help.hidden = true; filter.value = ''; filter.dispatchEvent(new Event('input')); }
    });
  }

  // ---- Diff page ----------------------------------------------------------------

  const CATEGORY_KIND = { thread: 'thread', turn: 'turn', inference: 'inference', tool: 'tool_call', cell: 'code_cell',
    terminal: 'terminal', session: 'session', compaction: 'compaction', item: 'item', edge: 'edge', rollout: 'rollout' };

  function diffPage(A, B, alignment) {
    document.getElementById('app').classList.add('diff');
    document.getElementById('timeline').remove();
    const side = document.getElementById('side');
    const detailPane = document.getElementById('detail');
    const filter = document.getElementById('filter');
    const report = alignment.report;
    const objects = alignment.objects;
    let selected = -1;
    document.getElementById('headline').append(h('b', { text: 'diff' }),
      h('span', { class: 'mono', text: 'A ' + A.view.rollout_id + '  B ' + B.view.rollout_id }));
    const onlyDiff = h('input', { type: 'checkbox', checked: !report.equivalent });
    side.append(
      h('div', { class: 'verdict ' + (report.equivalent ? 'equivalent' : 'divergent'),
        text: report.equivalent ? 'replay-equivalent' : 'first divergence: ' + firstText(report.first) + ' (' + report.further_differences + ' further differences)' }),
      h('label', { class: 'muted' }, onlyDiff, ' only differences'));
    const rowsEl = h('div', { id: 'rows' });
    side.append(rowsEl);
    const rows = objects.map((o, i) => {
      const state = o.difference === null || o.difference === undefined ? 'same' : (o.a_id === null || o.b_id === null ? 'only' : 'differs');
      const tag = state === 'same' ? '=' : state === 'only' ? (o.a_id === null ? 'only B' : 'only A') : 'differs';
      const el = h('div', { class: 'diffrow ' + state, 'data-index': i },
        h('span', { text: (o.thread_path || 'rollout') + (o.turn_index ? ' turn ' + o.turn_index : '') + ' · ' + o.subject }),
        h('span', { class: 'tag', text: tag }),
        state === 'same' ? null : h('span', { class: 'what', text: o.difference }));
      el.addEventListener('click', () => select(i));
      rowsEl.append(el);
      return { el, o, state, text: (o.thread_path + ' ' + o.subject + ' ' + (o.difference || '')).toLowerCase() };
    });

    function applyFilter() {
      const q = filter.value.trim().toLowerCase();
      for (const r of rows) r.el.classList.toggle('hidden', (onlyDiff.checked && r.state === 'same') || (q !== '' && !r.text.includes(q)));
    }
    onlyDiff.addEventListener('change', applyFilter);
    filter.addEventListener('input', applyFilter);

    function select(i) {
      if (i < 0 || i >= rows.length) return;
      if (selected >= 0) rows[selected].el.classList.remove('selected');
      selected = i;
      const { o, el } = rows[i];
      el.classList.add('selected');
      el.scrollIntoView({ block: 'nearest' });
      const kind = CATEGORY_KIND[o.category] || o.category;
      // A link in a side's detail selects the aligned row of what it names.
      const pane = (R, id, name) => {
        const side = name === 'A' ? 'a_id' : 'b_id';
        const d = new Detail(R, (_, target) => select(rows.findIndex((r) => r.o[side] === target)));
        return h('div', {}, h('div', { class: 'side-name mono', text: name + ' · rollout ' + R.view.rollout_id }),
          id === null || id === undefined ? h('p', { class: 'muted', text: 'not in ' + name }) : d.render(kind, id));
      };
      detailPane.replaceChildren(
        h('h3', { text: (o.thread_path || 'rollout') + (o.turn_index ? ' turn ' + o.turn_index : '') + ' · ' + o.subject }),
        o.difference ? h('div', { class: 'verdict divergent', text: o.difference }) : h('div', { class: 'verdict equivalent', text: 'equal' }),
        h('div', { class: 'sides' }, pane(A, o.a_id, 'A'), pane(B, o.b_id, 'B')));
    }

    keys({
      next: () => { for (let i = selected + 1; i < rows.length; i++) if (!rows[i].el.classList.contains('hidden')) return select(i); },
      previous: () => { for (let i = selected - 1; i >= 0; i--) if (!rows[i].el.classList.contains('hidden')) return select(i); },
    });
    applyFilter();
    const first = rows.findIndex((r) => r.state !== 'same');
    select(first >= 0 ? first : 0);
  }

  function firstText(d) {
    if (!d) return '';
    return (d.thread_path ? 'thread ' + d.thread_path : 'rollout') + (d.turn_index ? ' turn ' + d.turn_index : '') + ': ' + d.subject + ' ' + d.what;
  }

  // ---- Start ----------------------------------------------------------------------

  if (DATA.mode === 'diff') diffPage(new Rollout(DATA.a), new Rollout(DATA.b), DATA.alignment);
  else if (DATA.mode === 'rollout') rolloutPage(new Rollout(DATA.rollout));
  else document.getElementById('detail').textContent = 'This page holds no rollout: ' + (DATA.error || DATA.mode);
  performance.mark('tracefold:ready');
  document.documentElement.dataset.ready = '1';
  window.tracefoldReadyAt = performance.now();
})().catch((error) => {
  document.getElementById('detail').textContent = 'The page could not draw the rollout: ' + error;
  console.error(error);
});
