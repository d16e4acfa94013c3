/* BPMN diagrams drawn with bpmn-js, which the platform serves from node_modules (app/web/vendor.py): no CDN.

   Each .diagram box (templates/diagram/macros.html) sits in a <details> section. Nothing is fetched until the
   section is opened (or is open when the page loads): then the viewer bundle and its style sheets, the version's
   BPMN (data-xml-url) and, for a dossier, where it stands (data-progress-url: element ids the server computed
   from the workflow) are fetched together. The completed path and the current step(s) are marked with classes
   (dx-done, dx-flow, dx-current, dx-failed; colours in motcua.css) and a text label on each current step; the
   same steps are written as lists beside the drawing, so the diagram is never the only way to read them.

   Under the platform's Content-Security-Policy: no inline script or handler, everything styled by class or
   through element.style. On touch screens a horizontal drag moves the diagram and two fingers zoom it, while a
   vertical swipe still scrolls the page; the buttons zoom and fit; once it has focus, the arrow keys move it and
   + and - zoom it. */
(function () {
  'use strict';

  var viewerLoading = null;

  function loadViewer(box) {
    if (window.BpmnJS) return Promise.resolve(window.BpmnJS);
    if (!viewerLoading) {
      viewerLoading = new Promise(function (resolve, reject) {
        (box.dataset.viewerCss || '').split(' ').filter(Boolean).forEach(function (href) {
          var link = document.createElement('link');
          link.rel = 'stylesheet';
          link.href = href;
          document.head.appendChild(link);
        });
        var script = document.createElement('script');
        script.src = box.dataset.viewerJs;
        script.onload = function () {
          if (window.BpmnJS) resolve(window.BpmnJS); else reject(new Error('bpmn-js did not load'));
        };
        script.onerror = function () {
          viewerLoading = null;
          reject(new Error('bpmn-js could not be fetched'));
        };
        document.head.appendChild(script);
      });
    }
    return viewerLoading;
  }

  function fetchOk(url) {
    return fetch(url, {credentials: 'same-origin'}).then(function (response) {
      if (!response.ok) throw new Error(url + ': ' + response.status);
      return response;
    });
  }

  function fillList(list, steps, suffix) {
    steps.forEach(function (step) {
      var item = document.createElement('li');
      item.textContent = step.name + (suffix || '');
      item.dataset.elementId = step.id;
      list.appendChild(item);
    });
  }

  function writeSteps(box, progress) {
    var holder = box.querySelector('.diagram-steps');
    if (!holder) return;
    var done = holder.querySelector('.steps-done');
    var current = holder.querySelector('.steps-current');
    done.textContent = '';
    current.textContent = '';
    fillList(done, progress.steps.completed);
    fillList(current, progress.steps.current);
    fillList(current, progress.steps.failed, ' — ' + (box.dataset.labelFailed || ''));
    if (!current.children.length) {
      var none = document.createElement('li');
      none.textContent = progress.finished ? box.dataset.msgFinished : box.dataset.msgNoCurrent;
      current.appendChild(none);
    }
    holder.hidden = false;
  }

  function mark(viewer, box, progress) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    var overlays = viewer.get('overlays');
    function each(ids, marker) {
      ids.forEach(function (id) { if (registry.get(id)) canvas.addMarker(id, marker); });
    }
    each(progress.completed, 'dx-done');
    each(progress.flows, 'dx-flow');
    each(progress.current, 'dx-current');
    each(progress.failed, 'dx-failed');
    function label(ids, text, kind) {
      ids.forEach(function (id) {
        if (!registry.get(id)) return;
        var tag = document.createElement('span');
        tag.className = 'dx-tag dx-tag-' + kind;
        tag.textContent = text;
        overlays.add(id, 'motcua-progress', {position: {top: -26, left: 0}, html: tag});
      });
    }
    label(progress.current, box.dataset.labelCurrent, 'current');
    label(progress.failed, box.dataset.labelFailed, 'failed');
  }

  // Fit the whole diagram; when that is too small to read (a phone, a wide diagram), show at a readable scale the
  // current step if there is one, else the diagram's beginning (the rest is a drag or a button away).
  var READABLE = 0.5;
  function frame(viewer, focusIds) {
    var canvas = viewer.get('canvas');
    var registry = viewer.get('elementRegistry');
    canvas.zoom('fit-viewport', 'auto');
    if (canvas.zoom() >= READABLE) return;
    var box = canvas.viewbox();
    var width = box.outer.width / 0.8;
    var height = box.outer.height / 0.8;
    var target = (focusIds || []).map(function (id) { return registry.get(id); }).filter(Boolean)[0];
    if (target) {
      canvas.viewbox({x: target.x + target.width / 2 - width / 2, y: target.y + target.height / 2 - height / 2,
                      width: width, height: height});
    } else {
      canvas.viewbox({x: box.inner.x - 20, y: box.inner.y - 20, width: width, height: height});
    }
  }

  function zoomButtons(box, canvas, refit) {
    box.querySelectorAll('[data-zoom]').forEach(function (button) {
      button.disabled = false;
      button.addEventListener('click', function () {
        var how = button.dataset.zoom;
        if (how === 'fit') refit();
        else canvas.zoom(Math.min(4, Math.max(0.2, canvas.zoom() * (how === 'in' ? 1.25 : 0.8))));
      });
    });
  }

  // One finger moves the diagram sideways (a vertical swipe is the page's: touch-action pan-y), two zoom it.
  function touch(element, canvas) {
    var points = {};
    function count() { return Object.keys(points).length; }
    function pair() {
      var keys = Object.keys(points);
      var a = points[keys[0]], b = points[keys[1]];
      return {distance: Math.hypot(a.x - b.x, a.y - b.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2};
    }
    element.addEventListener('pointerdown', function (event) {
      if (event.pointerType !== 'touch') return;
      points[event.pointerId] = {x: event.clientX, y: event.clientY};
    });
    element.addEventListener('pointermove', function (event) {
      var last = points[event.pointerId];
      if (event.pointerType !== 'touch' || !last) return;
      if (count() === 1) {
        canvas.scroll({dx: event.clientX - last.x, dy: event.clientY - last.y});
        points[event.pointerId] = {x: event.clientX, y: event.clientY};
        return;
      }
      var before = pair();
      points[event.pointerId] = {x: event.clientX, y: event.clientY};
      var after = pair();
      if (before.distance > 0) {
        var rect = element.getBoundingClientRect();
        var scale = Math.min(4, Math.max(0.2, canvas.zoom() * after.distance / before.distance));
        canvas.zoom(scale, {x: after.x - rect.left, y: after.y - rect.top});
      }
    });
    function end(event) { delete points[event.pointerId]; }
    element.addEventListener('pointerup', end);
    element.addEventListener('pointercancel', end);
  }

  // The focused diagram moves with the arrow keys and zooms with + and - (bpmn-js alone asks for Ctrl as well).
  function keys(svg, canvas) {
    var STEP = 60;
    var moves = {ArrowLeft: [STEP, 0], ArrowRight: [-STEP, 0], ArrowUp: [0, STEP], ArrowDown: [0, -STEP]};
    svg.addEventListener('keydown', function (event) {
      if (event.ctrlKey || event.metaKey || event.altKey) return;
      var move = moves[event.key];
      if (move) canvas.scroll({dx: move[0], dy: move[1]});
      else if (event.key === '+' || event.key === '=') canvas.zoom(Math.min(4, canvas.zoom() * 1.25));
      else if (event.key === '-') canvas.zoom(Math.max(0.2, canvas.zoom() * 0.8));
      else return;
      event.preventDefault();
      event.stopPropagation();
    });
  }

  function draw(box) {
    if (box.dataset.state) return;
    box.dataset.state = 'loading';
    var status = box.querySelector('.diagram-status');
    var progress = box.dataset.progressUrl
      ? fetchOk(box.dataset.progressUrl).then(function (r) { return r.json(); })
      : Promise.resolve(null);
    progress.then(function (p) { if (p) writeSteps(box, p); }).catch(function () {});
    Promise.all([loadViewer(box), fetchOk(box.dataset.xmlUrl).then(function (r) { return r.text(); }), progress])
      .then(function (got) {
        var BpmnJS = got[0], xml = got[1], p = got[2];
        var holder = box.querySelector('.diagram-canvas');
        var viewer = new BpmnJS({container: holder, zoomScroll: {enabled: false}});
        return viewer.importXML(xml).then(function () {
          var focus = p ? p.current.concat(p.failed) : [];
          var refit = function () { frame(viewer, focus); };
          var svg = holder.querySelector('.djs-container > svg');  // focusable: arrow keys move the diagram
          if (svg) {
            svg.setAttribute('aria-label', holder.getAttribute('aria-label'));
            keys(svg, viewer.get('canvas'));
          }
          if (p) mark(viewer, box, p);
          refit();
          zoomButtons(box, viewer.get('canvas'), refit);
          touch(holder, viewer.get('canvas'));
          if (window.ResizeObserver) {  // the box follows the window: keep the drawing's scale, show more or less
            new ResizeObserver(function () { viewer.get('canvas').resized(); }).observe(holder);
          }
          status.textContent = box.dataset.msgReady;
          box.dataset.state = 'ready';
        });
      })
      .catch(function (error) {
        status.textContent = box.dataset.msgFailed;
        status.classList.add('error-box');
        box.dataset.state = 'failed';
        if (window.console) console.error(error);
      });
  }

  function init() {
    document.querySelectorAll('.diagram').forEach(function (box) {
      var section = box.closest('details');
      if (!section || section.open) { draw(box); return; }
      section.addEventListener('toggle', function () { if (section.open) draw(box); });
    });
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
