"""The HTML report's per-example drill-down: every item's examples, what the model answered and how each was
scored, so that a reader can see *why* a score is what it is without opening the JSON report.

The examples travel as JSON inside ``<script type="application/json">`` (one per task and shot count, parsed
only when its section is opened) and are rendered by the inline script below, 100 rows at a time: a report of
tens of thousands of examples opens as fast as the task-level page. The script builds the DOM with
``createElement``/``textContent`` only, so that no prompt or answer is ever read as HTML.

Sections are per (task, shots); rows are examples, matched across models by ``ExampleResult.id`` (and
occurrence: a task may hold the same example twice), with a column per model. Rows come flipped first (with
a baseline: newly failing, then newly passing, ``compare.flips``), then those some model got wrong
(``gates.example_failed``), then the rest, each in the task's order.

The embedded data (short keys: a report may hold tens of thousands of examples; None values are left out):

- a section: ``task``, ``shots``, ``models`` (its columns), ``baseline`` (per model: ``{"against": LABEL}``,
  ``{"why": why it was not compared}`` or null), ``counts`` (per model: ``n``, ``wrong``, ``right``,
  ``flipped``), ``rows``;
- a row: ``id``, ``i`` (index), ``p`` (prompt) or ``m`` (the chat conversation, ``[[role, content]]``), ``t``
  (targets), ``c`` (choices), ``ts`` (target_scores), ``a`` (a cell per model, null where it lacks the example);
- a cell: ``s`` (``"w"`` wrong, ``"r"`` right, ``"-"`` not scored), ``r`` (response), ``rr`` (raw_response,
  where it differs), ``ch`` (the chosen option), ``pr`` (the options' probabilities: softmax of ``log_probs``),
  ``tl`` (target_log_probs), ``sc`` (scores), ``v`` (score), ``cf`` (confidence_text), ``sm`` (samples), ``j``
  (the judge's verdicts, less the judge's prompts), ``x`` (Inspect's scorers), ``f`` (flipped: ``d`` "newly
  failing" | "newly passing", ``b`` what the baseline answered, ``bs`` its status), and ``i``/``p``/``m``
  where this model's differ from the row's.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pytest_lmbench.core.compare import keyed
from pytest_lmbench.core.gates import example_failed
from pytest_lmbench.core.results import ExampleResult, TaskResult, dumps_json
from pytest_lmbench.report.format import probabilities

if TYPE_CHECKING:
    from pytest_lmbench.core.compare import BaselineIndex, Flip

#: Rows rendered at a time (and by each "show more").
PAGE_ROWS = 100

#: Row order: flipped to failing (0), flipped to passing (1), wrong in some model (2), the rest (3).
_RANK = {"newly failing": 0, "newly passing": 1}

_JS_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def embed_json(value: Any) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``</script>``, ``<!--`` or ``&`` can
    end or change the element, and U+2028/2029 are escaped too (they are line ends to older JavaScript).
    Non-finite floats (which JSON.parse refuses) become strings."""
    try:
        text = dumps_json(value, allow_nan=False, separators=(",", ":"))
    except ValueError:
        text = dumps_json(_finite(value), separators=(",", ":"))
    return text.translate(_JS_ESCAPES)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def status(ex: ExampleResult, result: TaskResult) -> str:
    """An example's right or wrong as the failure messages judge it (``gates.example_failed``): "w" wrong, "r"
    right, "-" where nothing says (no pick, no per-example score)."""
    if example_failed(ex, result):
        return "w"
    return "r" if ex.score is not None or ex.picked_best is not None else "-"


def _without_prompts(judge: Any) -> Any:
    """A judge entry without the judge's prompts (each holds the question and the answer again; the JSON report
    keeps them)."""
    if isinstance(judge, dict):
        return {k: _without_prompts(v) for k, v in judge.items() if k != "prompt"}
    if isinstance(judge, list):
        return [_without_prompts(v) for v in judge]
    return judge


def _messages(ex: ExampleResult) -> list[list[Any]] | None:
    if not ex.messages:
        return None
    return [[m.get("role"), m.get("content")] if isinstance(m, dict) else [None, m] for m in ex.messages]


#: A flipped example and the baseline result it was matched in (the baseline's status needs it).
_Flipped = tuple["Flip", TaskResult]


def _cell(ex: ExampleResult, result: TaskResult, row: dict[str, Any], flip: _Flipped | None
          ) -> dict[str, Any]:
    """One model's answer to one example (keys: the module docstring); prompts only where they differ from the
    row's."""
    cell: dict[str, Any] = {"s": status(ex, result)}
    if ex.response is not None:
        cell["r"] = ex.response
    if ex.raw_response is not None and ex.raw_response != ex.response:
        cell["rr"] = ex.raw_response
    if ex.choices is not None:
        cell["ch"] = ex.chosen
        if ex.log_probs is not None:
            cell["pr"] = probabilities(ex.log_probs)
    optional = {"tl": ex.target_log_probs, "sc": ex.scores or None, "v": ex.score, "cf": ex.confidence_text,
                "sm": ex.samples, "j": None if ex.judge is None else _without_prompts(ex.judge), "x": ex.scorer}
    cell.update((k, v) for k, v in optional.items() if v is not None)
    if ex.index != row["i"]:
        cell["i"] = ex.index
    messages = _messages(ex)
    if messages is not None:
        if messages != row.get("m"):
            cell["m"] = messages
    elif ex.prompt != row.get("p"):
        cell["p"] = ex.prompt
    if flip is not None:
        was, base = flip
        cell["f"] = {"d": was.direction, "b": was.baseline.answer, "bs": status(was.baseline, base)}
    return cell


def _flips(result: TaskResult, baseline: BaselineIndex | None
           ) -> tuple[dict[int, _Flipped], dict[str, str] | None]:
    """This result's flipped examples (by ``id()`` of the candidate's example: duplicates stay apart), and what
    it was compared with (``{"against": label}``) or why it was not (``{"why": reason}``)."""
    if baseline is None:
        return {}, None
    base, flipped, why = baseline.flipped(result)
    if base is None:
        return {}, {"why": why}
    return {id(f.candidate): (f, base) for f in flipped}, {"against": baseline.label(base)}


def example_groups(results: Sequence[TaskResult], models: Sequence[str],
                   baseline: BaselineIndex | None = None) -> list[dict[str, Any]]:
    """The drill-down's data: a section per (task, shots) with rows matched across models (see the module
    docstring for the keys), rows in display order."""
    by_key: dict[tuple[str, int], list[TaskResult]] = {}
    for r in results:
        if r.examples and not r.aggregate and r.model != "-":
            by_key.setdefault((r.task, r.shots), []).append(r)
    order = {m: i for i, m in enumerate(models)}
    groups = []
    for (task, shots), rs in sorted(by_key.items()):
        rs = sorted(rs, key=lambda r: order.get(r.model, len(order)))
        rows: dict[tuple[str, int], dict[str, Any]] = {}
        ranks: dict[tuple[str, int], int] = {}
        counts, compared = [], []
        for col, r in enumerate(rs):
            flipped, against = _flips(r, baseline)
            compared.append(against)
            tally = {"n": len(r.examples), "wrong": 0, "right": 0, "flipped": len(flipped)}
            for key, ex in keyed(r.examples).items():  # (id, occurrence): as comparisons pair examples
                row = rows.get(key)
                if row is None:
                    row = rows[key] = _row(ex, len(rs))
                flip = flipped.get(id(ex))
                cell = row["a"][col] = _cell(ex, r, row, flip)
                if cell["s"] != "-":
                    tally["wrong" if cell["s"] == "w" else "right"] += 1
                rank = _RANK[flip[0].direction] if flip is not None else 2 if cell["s"] == "w" else 3
                ranks[key] = min(ranks.get(key, 3), rank)
            counts.append(tally)
        ordered = sorted(rows, key=lambda k: ranks[k])  # stable: the task's order within each rank
        groups.append({"task": task, "shots": shots, "models": [r.model for r in rs], "baseline": compared,
                       "counts": counts, "rows": [rows[k] for k in ordered]})
    return groups


def _row(ex: ExampleResult, n_models: int) -> dict[str, Any]:
    row: dict[str, Any] = {"id": ex.id, "i": ex.index}
    messages = _messages(ex)
    if messages is not None:
        row["m"] = messages
    else:
        row["p"] = ex.prompt
    row["t"] = list(ex.targets)
    if ex.choices is not None:
        row["c"] = list(ex.choices)
    if ex.target_scores is not None:
        row["ts"] = ex.target_scores
    row["a"] = [None] * n_models
    return row


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _summary(group: dict[str, Any]) -> str:
    """A section's one line: the task, shots, and per model its wrong/right/flipped counts."""
    parts = []
    for model, c in zip(group["models"], group["counts"]):
        flipped = f", {c['flipped']} flipped" if c["flipped"] else ""
        wrong = f"<b class=\"lmx-w\">{c['wrong']} wrong</b>" if c["wrong"] else "0 wrong"
        parts.append(f"{_e(model)}: {wrong}, {c['right']} right{flipped}")
    n = len(group["rows"])
    return (f"<code>{_e(group['task'])}</code> · {group['shots']}-shot · {n} example{'s' if n != 1 else ''} · "
            + " · ".join(parts))


def examples_section(results: Sequence[TaskResult], *, models: Sequence[str],
                     baseline: BaselineIndex | None = None) -> str:
    """The "Examples" part of the page: one closed ``<details>`` per (task, shots) with its data, then the
    script that renders a section when it is opened. Empty when no result has examples."""
    groups = example_groups(results, models, baseline)
    if not groups:
        return ""
    flipped = " Flipped examples (right in the baseline and wrong now, then the reverse) come first, with " \
        "what the baseline answered." if baseline is not None else ""
    out = ['<h2 id="examples">Examples</h2><p class="meta">Open a task to see its examples: the prompt, the '
           "targets, each model's answer and scores, side by side. Wrong ones first." + flipped
           + " Filter by text or by right/wrong; the address <code>#open=TASK</code> opens a task (a parent: its "
           "subtasks; <code>*</code>: all).</p>"]
    for n, group in enumerate(groups):
        out.append(f'<details class="lmx" data-task="{_e(group["task"])}" data-shots="{group["shots"]}" '
                   f'data-src="lmx-data-{n}"><summary>{_summary(group)}</summary>'
                   f'<script type="application/json" id="lmx-data-{n}">{embed_json(group)}</script></details>')
    out.append(f'<script id="lmx-script">{SCRIPT}</script>')
    return "".join(out)


CSS = """
details.lmx { border: 1px solid #e3e3e3; border-radius: 4px; margin: .4em 0; padding: .3em .6em; }
details.lmx > summary { cursor: pointer; } details.lmx[open] > summary { margin-bottom: .4em; }
b.lmx-w, .lmx-badge.lmx-w { color: #c62828; } .lmx-badge.lmx-r { color: #2e7d32; }
.lmx-bar { display: flex; flex-wrap: wrap; gap: .6em; align-items: center; margin: .3em 0; }
.lmx-bar input { flex: 1 1 18em; padding: .25em .4em; } .lmx-count { color: #555; }
.lmx-wrap { overflow-x: auto; }
table.lmx-t { width: 100%; table-layout: fixed; margin: 0; }
table.lmx-t td { font-size: .92em; overflow-wrap: anywhere; }
tr.lmx-row.lmx-wrong > td:first-child { border-left: 3px solid #c62828; }
tr.lmx-row.lmx-flipped > td { background: #fff8e1; }
.lmx-head { color: #666; font-size: .88em; } .lmx-flip { font-weight: 600; color: #b26a00; }
pre.lmx-pre { white-space: pre-wrap; word-break: break-word; max-height: 14em; overflow: auto; margin: .2em 0;
              padding: .35em .5em; }
.lmx-msg { margin: .15em 0; } .lmx-role { font-size: .8em; color: #666; text-transform: uppercase; }
.lmx-label { color: #666; } .lmx-badge { font-weight: 600; } .lmx-none { color: #999; }
table.lmx-opts { margin: .2em 0; } table.lmx-opts td { padding: .05em .4em; border: 0; }
.lmx-probbar { display: inline-block; height: .7em; background: #4269d0; vertical-align: middle; }
tr.lmx-chosen td { font-weight: 600; } .lmx-small { font-size: .88em; color: #444; }
"""

# The script: plain ES5-ish JavaScript, no framework, DOM built with createElement/textContent only.
SCRIPT = r"""
(function () {
  "use strict";
  var PAGE = __PAGE__;
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }
  function str(v) { return typeof v === "string" ? v : JSON.stringify(v); }
  function num(v) {
    if (typeof v !== "number") return str(v);
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(3)));
  }
  function add(parent, child) { parent.appendChild(child); return child; }
  function pre(text) { return el("pre", "lmx-pre", text); }
  function labeled(label, value, cls) {
    var d = el("div", cls || "lmx-small");
    add(d, el("span", "lmx-label", label + " "));
    add(d, document.createTextNode(value));
    return d;
  }
  function conversation(messages) {
    var d = el("div", "lmx-conv");
    messages.forEach(function (m) {
      var one = add(d, el("div", "lmx-msg"));
      add(one, el("div", "lmx-role", m[0] === null ? "message" : str(m[0])));
      add(one, pre(str(m[1])));
    });
    return d;
  }
  var STATUS = {w: "wrong", r: "right", "-": "not scored"};

  function judgeEl(j) {
    var d = el("div", "lmx-judge lmx-small");
    if (j === null || typeof j !== "object") { d.textContent = str(j); return d; }
    if (Array.isArray(j.panel)) {
      j.panel.forEach(function (v) {
        var one = add(d, el("div"));
        add(one, el("span", "lmx-label", "judge " + str(v.judge) + ":"));
        add(one, judgeEl(v));
      });
      return d;
    }
    if (Array.isArray(j.samples)) {
      j.samples.forEach(function (v, k) {
        var one = add(d, el("div"));
        add(one, el("span", "lmx-label", "verdict " + (k + 1) + ":"));
        add(one, judgeEl(v));
      });
      return d;
    }
    if (j.mode === "pairwise") {
      add(d, labeled("pairwise against " + str(j.other) + ":", "verdicts " + (j.verdicts || []).map(str).join(" then ")
          + " (the answer as A, then as B), outcome " + num(j.outcome)));
      ["first", "second"].forEach(function (k) {
        if (j[k] && j[k].text) add(d, pre(str(j[k].text)));
      });
      return d;
    }
    add(d, labeled("judge:", (j.grade === null || j.grade === undefined ? "unread" : "grade " + num(j.grade))
        + (j.weighted !== null && j.weighted !== undefined ? " (expected " + num(j.weighted) + ")" : "")));
    if (j.text) add(d, pre(str(j.text)));
    return d;
  }

  function samplesEl(samples) {
    var right = samples.filter(function (s) { return s.correct; }).length;
    var det = el("details", "lmx-samples lmx-small");
    add(det, el("summary", null, samples.length + " samples, " + right + " right"));
    var ol = add(det, el("ol"));
    samples.forEach(function (s) {
      var answer = "picked" in s ? s.picked : s.response;
      var li = add(ol, el("li", null, (answer === null || answer === undefined ? "(no answer)" : str(answer))
          + (s.score !== undefined ? "  · score " + num(s.score) : "")
          + (s.correct === true ? "  ✓" : s.correct === false ? "  ✗" : "")));
      if (s.raw_response !== undefined && s.raw_response !== null && s.raw_response !== s.response)
        add(li, labeled("raw:", str(s.raw_response)));
    });
    return det;
  }

  function optionsEl(row, c) {
    var t = el("table", "lmx-opts");
    var best = null;
    if (row.ts) Object.keys(row.ts).forEach(function (k) { if (best === null || row.ts[k] > best) best = row.ts[k]; });
    row.c.forEach(function (choice, k) {
      var tr = add(t, el("tr", choice === c.ch ? "lmx-chosen" : null));
      var ts = row.ts ? row.ts[choice] : undefined;
      add(tr, el("td", null, (choice === c.ch ? "▶ " : "") + choice));
      add(tr, el("td", "num", ts === undefined ? "" : (ts === best ? "✓ " : "") + num(ts)));
      var p = add(tr, el("td", "num"));
      if (c.pr && c.pr[k] !== undefined) {
        var bar = add(p, el("span", "lmx-probbar"));
        bar.style.width = Math.round(60 * c.pr[k]) + "px";
        add(p, document.createTextNode(" " + (100 * c.pr[k]).toFixed(1) + "%"));
      }
    });
    return t;
  }

  function exampleEl(row) {
    var td = el("td", "lmx-ex");
    var head = add(td, el("div", "lmx-head", "#" + row.i + " · " + row.id));
    var flip = null;
    row.a.forEach(function (c) { if (c && c.f && !flip) flip = c.f.d; });
    if (flip) { add(head, document.createTextNode(" · ")); add(head, el("span", "lmx-flip", flip)); }
    if (row.m) add(td, conversation(row.m)); else add(td, pre(row.p));
    if (row.c) {
      var opts = row.c.map(function (ch) {
        return ch + (row.ts && row.ts[ch] !== undefined ? " (" + num(row.ts[ch]) + ")" : "");
      });
      add(td, labeled("options:", opts.join(" | ")));
    } else if (row.t && row.t.length) {
      add(td, labeled(row.t.length > 1 ? "targets:" : "target:", row.t.join(" | ")));
    }
    return td;
  }

  function cellEl(row, c) {
    if (!c) return el("td", "lmx-none", "(no such example for this model)");
    var td = el("td", "lmx-ans");
    td.setAttribute("data-status", c.s);
    var head = add(td, el("div", "lmx-head"));
    add(head, el("span", "lmx-badge lmx-" + c.s, STATUS[c.s] || c.s));
    if (c.i !== undefined) add(head, document.createTextNode(" · #" + c.i));
    if (c.f) {
      var f = add(td, el("div", "lmx-flip lmx-small", c.f.d + ": the baseline answered "));
      add(f, el("code", "lmx-base", c.f.b === null || c.f.b === undefined ? "(nothing)" : str(c.f.b)));
      add(f, document.createTextNode(" (" + (STATUS[c.f.bs] || c.f.bs) + ")"));
    }
    if (row.c) {
      add(td, labeled("chose:", c.ch === null || c.ch === undefined ? "(no option named)" : str(c.ch), "lmx-answer"));
      add(td, optionsEl(row, c));
      if (c.r !== undefined) add(td, labeled("answer:", str(c.r)));
    } else {
      var ans = add(td, pre(c.r === undefined ? "(no answer)" : str(c.r)));
      ans.className += " lmx-answer";
    }
    if (c.rr !== undefined) add(td, labeled("raw:", str(c.rr)));
    var scores = [];
    if (c.sc) Object.keys(c.sc).forEach(function (k) { scores.push(k + " " + num(c.sc[k])); });
    if (c.v !== undefined && c.v !== null) scores.push("score " + num(c.v));
    if (scores.length) add(td, el("div", "lmx-small lmx-scores", scores.join(" · ")));
    if (c.tl) add(td, labeled("target log-probs:", c.tl.map(num).join(", ")));
    if (c.cf !== undefined && c.cf !== null) {
      add(td, labeled("stated confidence:", c.cf === "" ? "(empty reply)" : str(c.cf)));
    }
    if (c.sm && c.sm.length) add(td, samplesEl(c.sm));
    if (c.j) add(td, judgeEl(c.j));
    if (c.x) Object.keys(c.x).forEach(function (name) {
      var s = c.x[name] || {};
      var d = add(td, labeled("scorer " + name + ":", str(s.value)
          + (s.answer !== undefined && s.answer !== null ? " · answer " + str(s.answer) : "")));
      if (s.explanation) add(d, pre(str(s.explanation)));
    });
    if (c.m || c.p !== undefined) {
      var own = add(td, el("details", "lmx-small"));
      add(own, el("summary", null, "the prompt this model saw"));
      add(own, c.m ? conversation(c.m) : pre(str(c.p)));
    }
    return td;
  }

  function rowEl(row) {
    var tr = el("tr", "lmx-row");
    tr.setAttribute("data-id", row.id);
    var wrong = row.a.some(function (c) { return c && c.s === "w"; });
    var flipped = row.a.some(function (c) { return c && c.f; });
    if (wrong) tr.className += " lmx-wrong";
    if (flipped) tr.className += " lmx-flipped";
    add(tr, exampleEl(row));
    row.a.forEach(function (c) { add(tr, cellEl(row, c)); });
    return tr;
  }

  function haystack(row) {
    if (row.__h === undefined) {
      var parts = [row.p || ""];
      (row.m || []).forEach(function (m) { parts.push(str(m[1])); });
      parts = parts.concat(row.t || [], row.c || []);
      row.a.forEach(function (c) {
        if (!c) return;
        [c.r, c.rr, c.ch, c.cf].forEach(function (v) { if (v !== undefined && v !== null) parts.push(str(v)); });
        (c.sm || []).forEach(function (s) { parts.push(str("picked" in s ? s.picked : s.response)); });
      });
      row.__h = parts.join("\n").toLowerCase();
    }
    return row.__h;
  }

  function matches(f, row) {  // f: the section's filter settings, read once per pass (apply)
    var q = f.q, show = f.show, m = f.m;
    if (q && haystack(row).indexOf(q) < 0) return false;
    if (show === "all") return true;
    var cells = m < 0 ? row.a : [row.a[m]];
    var present = cells.filter(function (c) { return c; });
    if (show === "wrong") return present.some(function (c) { return c.s === "w"; });
    if (show === "right") return present.length > 0 && present.every(function (c) { return c.s === "r"; });
    if (show === "flipped") return present.some(function (c) { return c.f; });
    if (show === "disagree") {
      var all = row.a.filter(function (c) { return c; });
      return all.some(function (c) { return c.s === "w"; }) && all.some(function (c) { return c.s === "r"; });
    }
    return true;
  }

  function more(st) {
    var end = Math.min(st.matched.length, st.shown + PAGE);
    var frag = document.createDocumentFragment();
    for (var k = st.shown; k < end; k++) frag.appendChild(rowEl(st.matched[k]));
    st.tbody.appendChild(frag);
    st.shown = end;
    var left = st.matched.length - end;
    st.more.hidden = left <= 0;
    st.more.textContent = "show " + Math.min(PAGE, left) + " more (" + left + " left)";
    st.count.textContent = "showing " + end + " of " + st.matched.length + " matching"
        + (st.matched.length === st.data.rows.length ? "" : " (" + st.data.rows.length + " examples)");
    st.count.setAttribute("data-matched", String(st.matched.length));
  }

  function apply(st) {
    var f = {q: st.q.value.trim().toLowerCase(), show: st.show.value,
             m: st.model ? st.model.selectedIndex - 1 : -1};
    st.matched = st.data.rows.filter(function (row) { return matches(f, row); });
    st.tbody.textContent = "";
    st.shown = 0;
    more(st);
  }

  function option(select, value, text) {
    var o = add(select, el("option", null, text));
    o.value = value;
    return o;
  }

  function build(st) {
    var d = st.data;
    var body = add(st.det, el("div", "lmx-body"));
    d.baseline.forEach(function (b, k) {
      if (b && b.against) add(body, labeled(d.models[k] + " compared with", b.against, "lmx-small lmx-against"));
      if (b && b.why) add(body, labeled(d.models[k] + " not compared with the baseline:", b.why, "lmx-small"));
    });
    var bar = add(body, el("div", "lmx-bar"));
    st.q = add(bar, el("input", "lmx-q"));
    st.q.type = "search";
    st.q.placeholder = "filter: text in the prompt, targets or answers";
    st.show = add(bar, el("select", "lmx-show"));
    var many = d.models.length > 1;
    option(st.show, "all", "all examples");
    option(st.show, "wrong", many ? "wrong (in any model)" : "wrong");
    option(st.show, "right", many ? "right (in every model)" : "right");
    if (d.baseline.some(function (b) { return b && b.against; })) {
      option(st.show, "flipped", "flipped against the baseline");
    }
    if (many) option(st.show, "disagree", "models disagree (one right, one wrong)");
    st.model = null;
    if (many) {
      st.model = add(bar, el("select", "lmx-model"));
      option(st.model, "", "any model");
      d.models.forEach(function (m) { option(st.model, m, m); });
    }
    st.count = add(bar, el("span", "lmx-count"));
    var wrap = add(body, el("div", "lmx-wrap"));
    var table = add(wrap, el("table", "lmx-t"));
    var head = add(add(table, el("thead")), el("tr"));
    add(head, el("th", null, "example"));
    d.models.forEach(function (m) { add(head, el("th", null, m)); });
    st.tbody = add(table, el("tbody"));
    st.more = add(body, el("button", "lmx-more"));
    st.more.type = "button";
    st.more.addEventListener("click", function () { more(st); });
    var timer = null;
    st.q.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { apply(st); }, 120);
    });
    st.show.addEventListener("change", function () { apply(st); });
    if (st.model) st.model.addEventListener("change", function () { apply(st); });
  }

  function load(st) {  // the section's data parsed and its controls built, once; its rows drawn by apply
    st.data = JSON.parse(document.getElementById(st.det.getAttribute("data-src")).textContent);
    build(st);
  }

  var sections = Array.prototype.map.call(document.querySelectorAll("details.lmx"), function (det) {
    var st = {det: det, data: null, matched: [], shown: 0};
    det.addEventListener("toggle", function () { if (det.open && !st.data) { load(st); apply(st); } });
    return st;
  });

  function fromHash() {
    var params = new URLSearchParams(location.hash.replace(/^#/, ""));
    var open = params.getAll("open");
    if (!open.length) return;
    var first = null;
    sections.forEach(function (st) {
      var task = st.det.getAttribute("data-task");
      var named = open.some(function (o) { return o === task || o === "*" || task.indexOf(o + ":") === 0; });
      if (!named) return;
      if (!st.data) load(st);
      st.det.open = true;
      if (params.has("q")) st.q.value = params.get("q");
      var show = params.get("show");
      var known = Array.prototype.some.call(st.show.options, function (o) { return o.value === show; });
      if (show && known) st.show.value = show;
      var model = params.get("model");
      if (model && st.model) st.model.value = model;
      apply(st);
      if (!first) first = st.det;
    });
    if (first) first.scrollIntoView();
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();
  // when the page's script was done (ms since navigation): bench/bench_html_large.py reads it
  document.body.setAttribute("data-ready-ms", String(Math.round(performance.now())));
  document.body.setAttribute("data-ready", "1");
})();
""".replace("__PAGE__", str(PAGE_ROWS))
