/* The studio's modeller (templates/studio/draft.html): bpmn-js's modeller, served from node_modules by the platform,
   with a properties panel for what MotCua reads from a diagram, and the upload's own checker run after each change.

   - The draft's files and the catalogue (connector operations with their parameter schemas, roles, statuses, the
     panel's words) come from data-package-url. The diagram is the package's main BPMN file; the manifest and the
     forms are edited as text below it.
   - The panel writes the spiffworkflow extensions (properties, serviceTaskOperator, parameters) through bpmn-js's
     modeling commands, so every change can be undone (Ctrl+Z) and is checked like a drawing change. A lane's role
     is written into the manifest's "lanes", by the lane's name, as the platform reads it.
   - After each change (debounced) the whole package goes to data-check-url; each problem is marked on its element
     (a red or amber outline and a badge), listed with a button that shows the element, and repeated at the top of
     the panel when that element is selected.
   - Saving sends the package with the revision it was loaded at: the server refuses it if someone saved between.
   Under the platform's Content-Security-Policy: no inline script, style or handler. */
(function () {
  'use strict';

  var root = document.getElementById('modeller');
  if (!root) return;

  var SPIFF = 'spiffworkflow:';
  var state = {
    files: {}, revision: 0, catalog: null, texts: {}, main: null, dirty: false, checkSeq: 0, checkTimer: null,
    problems: [], marked: [], selected: null, manifestError: false, deployed: false
  };
  var modeler = null;
  var panel = document.getElementById('properties');
  var saveState = document.getElementById('save-state');
  var checkState = document.getElementById('check-state');
  var checkList = document.getElementById('check-problems');

  function t(key, values) {
    var text = state.texts[key] || key;
    Object.keys(values || {}).forEach(function (name) { text = text.split('{' + name + '}').join(values[name]); });
    return text;
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      if (name === 'text') node.textContent = attrs[name];
      else if (name === 'className') node.className = attrs[name];
      else if (attrs[name] !== undefined && attrs[name] !== null && attrs[name] !== false) node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  // ------------------------------------------------------------------ loading

  function loadModeler() {
    if (window.BpmnJS) return Promise.resolve(window.BpmnJS);
    return new Promise(function (resolve, reject) {
      (root.dataset.modelerCss || '').split(' ').filter(Boolean).forEach(function (href) {
        document.head.appendChild(el('link', {rel: 'stylesheet', href: href}));
      });
      var script = el('script', {src: root.dataset.modelerJs});
      script.onload = function () { window.BpmnJS ? resolve(window.BpmnJS) : reject(new Error('bpmn-js did not load')); };
      script.onerror = function () { reject(new Error('bpmn-js could not be fetched')); };
      document.head.appendChild(script);
    });
  }

  function getJson(url) {
    return fetch(url, {credentials: 'same-origin'}).then(function (response) {
      if (!response.ok) throw new Error(url + ': ' + response.status);
      return response.json();
    });
  }

  function postJson(url, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin', body: JSON.stringify(body),
      headers: {'Content-Type': 'application/json', 'X-CSRFToken': root.dataset.csrf}
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) {
          var message = (data.error && data.error.message) || String(response.status);
          var error = new Error(message);
          error.status = response.status;
          throw error;
        }
        return data;
      });
    });
  }

  function mainBpmn(files) {
    var names = Object.keys(files).filter(function (n) { return /\.bpmn$/.test(n); }).sort();
    var wanted = (manifest() || {}).process_id;
    var holding = names.filter(function (n) { return wanted && files[n].indexOf('id="' + wanted + '"') >= 0; });
    return holding[0] || names[0] || null;
  }

  function start() {
    Promise.all([loadModeler(), getJson(root.dataset.packageUrl), getJson(root.dataset.moddleUrl)])
      .then(function (loaded) {
        var BpmnJS = loaded[0], pkg = loaded[1];
        state.files = pkg.files;
        state.revision = pkg.revision;
        state.catalog = pkg.catalog;
        state.texts = pkg.texts;
        state.deployed = pkg.deployed;
        state.main = mainBpmn(pkg.files);
        modeler = new BpmnJS({
          container: root.querySelector('.modeller-canvas'),
          moddleExtensions: {spiffworkflow: loaded[2]}
        });
        renderFiles();
        return modeler.importXML(state.files[state.main] || '');
      })
      .then(function () {
        fitBesidePalette();
        watchSize();
        var svg = root.querySelector('.djs-container > svg');
        if (svg) svg.setAttribute('aria-label', root.dataset.label || '');
        modeler.on('commandStack.changed', function () { changed(); });
        modeler.on('selection.changed', function (event) {
          state.selected = event.newSelection.length === 1 ? event.newSelection[0] : null;
          renderPanel();
        });
        modeler.on('elements.changed', function () {
          if (!panel.contains(document.activeElement)) renderPanel();
        });
        root.dataset.state = 'ready';
        renderPanel();
        setSaveState(t('loaded', {revision: state.revision}));
        runCheck();
      })
      .catch(function (error) {
        root.dataset.state = 'failed';
        setSaveState(root.dataset.msgFailed + ' (' + error.message + ')');
      });
  }

  // The whole diagram in view, none of it under the palette (which floats over the canvas's left edge).
  function fitBesidePalette() {
    var canvas = modeler.get('canvas');
    canvas.zoom('fit-viewport');
    var palette = root.querySelector('.djs-palette');
    var box = canvas.viewbox();
    var inner = box.inner, outer = box.outer;
    // On a phone the palette would leave the drawing too small: it may pass under it there.
    if (!palette || !inner.width || !inner.height || outer.width < 600) return;
    var left = palette.getBoundingClientRect().right - root.querySelector('.modeller-canvas').getBoundingClientRect().left + 12;
    var scale = Math.min((outer.width - left - 12) / inner.width, (outer.height - 24) / inner.height, 1);
    if (scale <= 0) return;
    canvas.viewbox({x: inner.x - left / scale, y: inner.y - (outer.height / scale - inner.height) / 2,
                    width: outer.width / scale, height: outer.height / scale});
  }

  // A phone turned, a window resized: the drawing fits its box again.
  function watchSize() {
    if (!window.ResizeObserver) return;
    var box = root.querySelector('.modeller-canvas');
    var width = box.clientWidth;
    new ResizeObserver(function () {
      if (Math.abs(box.clientWidth - width) < 40) return;
      width = box.clientWidth;
      modeler.get('canvas').resized();
      fitBesidePalette();
    }).observe(box);
  }

  // ------------------------------------------------------------------ the package as files

  function manifest() {
    try {
      var parsed = JSON.parse(state.files['procedure.json'] || '');
      state.manifestError = !(parsed && typeof parsed === 'object' && !Array.isArray(parsed));
      return state.manifestError ? null : parsed;
    } catch (e) {
      state.manifestError = true;
      return null;
    }
  }

  function setFile(name, text) {
    state.files[name] = text;
    var area = document.querySelector('textarea[data-file="' + name + '"]');
    if (area && area.value !== text) area.value = text;
  }

  function currentFiles() {
    return modeler.saveXML({format: true}).then(function (result) {
      var files = Object.assign({}, state.files);
      if (state.main) files[state.main] = result.xml;
      return files;
    });
  }

  // A form's preview shows the draft as saved: with unsaved changes, they are saved first (the new tab is opened
  // at once, so the browser does not take it for a pop-up, and sent to the preview once the save has answered).
  function previewLink(form) {
    var link = el('a', {href: root.dataset.previewUrl.replace('__FORM__', encodeURIComponent(form)),
                        target: '_blank', rel: 'noopener', className: 'preview-link', text: t('form_preview')});
    link.addEventListener('click', function (event) {
      if (!state.dirty) return;
      event.preventDefault();
      var opened = window.open('', '_blank');
      save().then(function () {
        if (opened) opened.location = link.href; else window.location = link.href;
      }).catch(function () { if (opened) opened.close(); });
    });
    return link;
  }

  function formNames() {
    return Object.keys(state.files).filter(function (n) { return /^forms\/.*\.schema\.json$/.test(n); })
      .map(function (n) { return n.slice(6); }).sort();
  }

  function renderFiles() {
    var box = document.getElementById('files');
    box.textContent = '';
    Object.keys(state.files).sort().forEach(function (name) {
      if (name === state.main) return;
      var id = 'file-' + name.replace(/[^a-z0-9]/gi, '-');
      var area = el('textarea', {id: id, 'data-file': name, rows: '14', spellcheck: 'false', className: 'code'});
      area.value = state.files[name];
      area.addEventListener('input', function () {
        state.files[name] = area.value;
        changed();
      });
      var summary = el('summary', {}, [el('code', {text: name})]);
      var children = [summary, el('label', {for: id, className: 'visually-hidden', text: name}), area];
      var preview = root.dataset.previewUrl;
      if (preview && /^forms\/.*\.schema\.json$/.test(name)) {
        children.push(el('p', {}, [previewLink(name.slice(6))]));
      }
      box.appendChild(el('details', {className: 'file', 'data-name': name}, children));
    });
  }

  // ------------------------------------------------------------------ saving and checking

  function setSaveState(text) { saveState.textContent = text; }

  function changed() {
    state.dirty = true;
    setSaveState(t('unsaved'));
    clearTimeout(state.checkTimer);
    root.dataset.pending = '1';
    state.checkTimer = setTimeout(function () {
      state.checkTimer = null;
      runCheck();
    }, 600);
  }

  // data-pending is 1 from a change until the check of the latest change has answered (tests wait on it).
  function settled(seq) {
    if (seq === state.checkSeq && !state.checkTimer) root.dataset.pending = '0';
  }

  function runCheck() {
    var seq = ++state.checkSeq;
    root.dataset.check = 'running';
    checkState.textContent = t('checking');
    return currentFiles().then(function (files) {
      return postJson(root.dataset.checkUrl, {files: files});
    }).then(function (report) {
      if (seq !== state.checkSeq) return;
      state.problems = report.problems;
      showProblems(report);
      root.dataset.check = report.ok ? 'ok' : 'problems';
      settled(seq);
    }).catch(function (error) {
      if (seq !== state.checkSeq) return;
      root.dataset.check = 'failed';
      checkState.textContent = t('check_failed', {message: error.message});
      settled(seq);
    });
  }

  function save() {
    setSaveState(t('saving'));
    return currentFiles().then(function (files) {
      return postJson(root.dataset.saveUrl, {files: files, revision: state.revision}).then(function (saved) {
        state.files = files;
        state.revision = saved.revision;
        state.dirty = false;
        root.dataset.saved = String(saved.revision);
        setSaveState(t('saved', {revision: saved.revision, time: saved.updated_at_local}));
      });
    }).catch(function (error) {
      setSaveState(t('save_failed', {message: error.message}));
      throw error;
    });
  }

  document.getElementById('save-draft').addEventListener('click', function () { save().catch(function () {}); });
  document.getElementById('deploy-form').addEventListener('submit', function (event) {
    if (!modeler || !state.dirty) return;
    event.preventDefault();
    var form = event.target;
    save().then(function () { form.submit(); }).catch(function () {});
  });
  window.addEventListener('beforeunload', function (event) {
    if (state.dirty) {
      event.preventDefault();
      event.returnValue = t('leave_warning');
    }
  });

  function showProblems(report) {
    var canvas = modeler.get('canvas');
    var overlays = modeler.get('overlays');
    var registry = modeler.get('elementRegistry');
    overlays.remove({type: 'motcua-problem'});
    state.marked.forEach(function (id) {
      if (registry.get(id)) {
        canvas.removeMarker(id, 'mc-error');
        canvas.removeMarker(id, 'mc-warning');
      }
    });
    state.marked = [];
    var errors = report.problems.filter(function (p) { return p.severity === 'error'; }).length;
    var warnings = report.problems.length - errors;
    checkState.textContent = report.ok && !warnings ? t('check_ok') :
      report.ok ? t('check_ok_warnings', {warnings: warnings}) :
      t('check_errors', {errors: errors, warnings: warnings}) + (report.reason ? ' ' + report.reason : '');
    checkList.textContent = '';
    var perElement = {};
    report.problems.forEach(function (problem) {
      var item = el('li', {className: 'problem ' + problem.severity, 'data-code': problem.code,
                           'data-element': problem.element || ''}, [
        el('strong', {text: problem.severity === 'error' ? t('error') : t('warning')}),
        document.createTextNode(' ' + problem.message + ' '),
        el('span', {className: 'muted', text: '(' + problem.file + (problem.line ? ':' + problem.line : '') +
                    (problem.pointer ? ' ' + problem.pointer : '') + ')'})
      ]);
      if (problem.element && registry.get(problem.element)) {
        var show = el('button', {type: 'button', className: 'link', text: t('show')});
        show.addEventListener('click', function () { reveal(problem.element); });
        item.appendChild(document.createTextNode(' '));
        item.appendChild(show);
        (perElement[problem.element] = perElement[problem.element] || []).push(problem);
      }
      checkList.appendChild(item);
    });
    Object.keys(perElement).forEach(function (id) {
      var list = perElement[id];
      var worst = list.some(function (p) { return p.severity === 'error'; }) ? 'error' : 'warning';
      canvas.addMarker(id, 'mc-' + worst);
      state.marked.push(id);
      var badge = el('span', {className: 'mc-badge mc-badge-' + worst, title: list.map(function (p) {
        return p.message;
      }).join('\n'), 'aria-hidden': 'true', text: String(list.length)});
      overlays.add(id, 'motcua-problem', {position: {top: -10, right: 10}, html: badge});
    });
    if (state.selected) renderPanel();
  }

  function reveal(id) {
    var element = modeler.get('elementRegistry').get(id);
    if (!element) return;
    modeler.get('canvas').scrollToElement(element);
    modeler.get('selection').select(element);
    root.querySelector('.modeller-canvas').scrollIntoView({block: 'nearest'});
  }

  // ------------------------------------------------------------------ reading and writing extensions

  function is(bo, type) { return bo && bo.$instanceOf && bo.$instanceOf(type); }

  function extension(bo, type) {
    var values = (bo.extensionElements && bo.extensionElements.get('values')) || [];
    for (var i = 0; i < values.length; i++) if (is(values[i], type)) return values[i];
    return null;
  }

  function getProperty(bo, name) {
    var props = extension(bo, SPIFF + 'Properties');
    var found = props && props.get('values').filter(function (p) { return p.name === name; })[0];
    return found ? (found.value || '') : '';
  }

  function ensureExtension(element, type, attrs) {
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    var bo = element.businessObject;
    var ext = bo.extensionElements;
    if (!ext) {
      ext = moddle.create('bpmn:ExtensionElements', {values: []});
      ext.$parent = bo;
      modeling.updateProperties(element, {extensionElements: ext});
    }
    var found = extension(bo, type);
    if (!found) {
      found = moddle.create(type, attrs || {});
      found.$parent = ext;
      modeling.updateModdleProperties(element, ext, {values: ext.get('values').concat([found])});
    }
    return found;
  }

  function setProperty(element, name, value) {
    var modeling = modeler.get('modeling');
    var bo = element.businessObject;
    var props = extension(bo, SPIFF + 'Properties');
    var existing = props && props.get('values').filter(function (p) { return p.name === name; })[0];
    if (value === '' || value === null || value === undefined) {
      if (existing) modeling.updateModdleProperties(element, props, {
        values: props.get('values').filter(function (p) { return p !== existing; })
      });
      return;
    }
    if (existing) {
      if (existing.value !== value) modeling.updateModdleProperties(element, existing, {value: value});
      return;
    }
    props = ensureExtension(element, SPIFF + 'Properties', {values: []});
    var created = modeler.get('moddle').create(SPIFF + 'Property', {name: name, value: value});
    created.$parent = props;
    modeling.updateModdleProperties(element, props, {values: props.get('values').concat([created])});
  }

  function laneOf(element) {
    var bo = element.businessObject;
    var lanes = modeler.get('elementRegistry').filter(function (e) { return is(e.businessObject, 'bpmn:Lane'); });
    for (var i = 0; i < lanes.length; i++) {
      var refs = lanes[i].businessObject.get('flowNodeRef') || [];
      if (refs.indexOf(bo) >= 0) return lanes[i];
    }
    return null;
  }

  // ------------------------------------------------------------------ the panel

  var fieldSeq = 0;

  function field(label, control, help) {
    var id = 'prop-' + (++fieldSeq);
    control.id = id;
    var children = [el('label', {for: id, text: label}), control];
    if (help) {
      control.setAttribute('aria-describedby', id + '-help');
      children.push(el('p', {id: id + '-help', className: 'form-help', text: help}));
    }
    return el('div', {className: 'form-field'}, children);
  }

  function select(options, value, onChange) {
    var node = el('select');
    options.forEach(function (option) {
      var opt = el('option', {value: option[0], text: option[1]});
      if (String(option[0]) === String(value)) opt.selected = true;
      node.appendChild(opt);
    });
    node.addEventListener('change', function () { onChange(node.value); });
    return node;
  }

  function input(value, onChange, attrs) {
    var node = el('input', Object.assign({type: 'text', className: 'text'}, attrs || {}));
    node.value = value || '';
    node.addEventListener('change', function () { onChange(node.value.trim()); });
    return node;
  }

  function textarea(value, onChange) {
    var node = el('textarea', {rows: '3', className: 'code', spellcheck: 'false'});
    node.value = value || '';
    node.addEventListener('change', function () { onChange(node.value.trim()); });
    return node;
  }

  function button(text, onClick, className) {
    var node = el('button', {type: 'button', className: className || 'secondary', text: text});
    node.addEventListener('click', onClick);
    return node;
  }

  function renderPanel() {
    if (!modeler) return;
    panel.textContent = '';
    var element = state.selected;
    if (!element || !modeler.get('elementRegistry').get(element.id)) {
      panel.appendChild(el('p', {className: 'muted', text: t('panel_empty')}));
      return;
    }
    var bo = element.businessObject;
    panel.appendChild(el('p', {className: 'muted'}, [el('code', {text: bo.id}),
                                                      document.createTextNode(' · ' + bo.$type.replace('bpmn:', ''))]));
    var here = state.problems.filter(function (p) { return p.element === bo.id; });
    if (here.length) {
      panel.appendChild(el('ul', {className: 'panel-problems', role: 'list', 'aria-label': t('problems_here')},
        here.map(function (p) {
          return el('li', {className: 'problem ' + p.severity}, [el('strong', {
            text: p.severity === 'error' ? t('error') : t('warning')}), document.createTextNode(' ' + p.message)]);
        })));
    }
    if (!is(bo, 'bpmn:Process') && !is(bo, 'bpmn:Collaboration')) {
      panel.appendChild(field(t('name'), input(bo.name, function (value) {
        modeler.get('modeling').updateLabel(element, value);
      })));
    }
    if (is(bo, 'bpmn:UserTask')) userTaskFields(element);
    if (is(bo, 'bpmn:ServiceTask')) serviceTaskFields(element);
    if (is(bo, 'bpmn:EndEvent')) statusField(element, t('status_end'));
    if (is(bo, 'bpmn:Lane')) roleField(element);
    if (is(bo, 'bpmn:Participant')) poolAgencyField(element);
    if (is(bo, 'bpmn:SequenceFlow')) conditionField(element);
    if (is(bo, 'bpmn:Event')) timerFields(element);
  }

  function statusField(element, label) {
    var options = [['', t('status_none')]].concat(state.catalog.statuses.map(function (s) {
      return [String(s.code), s.code + ' — ' + s.label];
    }));
    panel.appendChild(field(label, select(options, getProperty(element.businessObject, 'dossierStatus'), function (v) {
      setProperty(element, 'dossierStatus', v);
    })));
  }

  function userTaskFields(element) {
    var bo = element.businessObject;
    var current = getProperty(bo, 'formJsonSchemaFilename');
    var forms = formNames();
    var options = [['', t('form_none')]].concat(forms.map(function (n) { return [n, n]; }));
    if (current && forms.indexOf(current) < 0) options.push([current, t('form_missing', {name: current})]);
    panel.appendChild(field(t('form'), select(options, current, function (v) { chooseForm(element, v); }),
                            t('form_help')));
    var actions = el('p', {className: 'actions'}, [button(t('form_new'), function () { newForm(element); })]);
    if (current && root.dataset.previewUrl) actions.appendChild(previewLink(current));
    panel.appendChild(actions);
    statusField(element, t('status'));
    panel.appendChild(field(t('allotted'), input(getProperty(bo, 'allottedTime'), function (v) {
      setProperty(element, 'allottedTime', v.replace(',', '.'));
    }, {inputmode: 'decimal'}), t('allotted_help')));
    var receives = el('input', {type: 'checkbox'});
    receives.checked = getProperty(bo, 'receivesDossier') === 'true';
    receives.addEventListener('change', function () { setProperty(element, 'receivesDossier', receives.checked ? 'true' : ''); });
    var id = 'prop-' + (++fieldSeq);
    receives.id = id;
    panel.appendChild(el('div', {className: 'form-field checkbox'}, [receives, el('label', {for: id, text: t('receives')})]));
    var docs = (bo.get('documentation') || [])[0];
    panel.appendChild(field(t('doc'), textarea(docs ? docs.text : '', function (v) {
      var moddle = modeler.get('moddle');
      modeler.get('modeling').updateProperties(element, {
        documentation: v ? [moddle.create('bpmn:Documentation', {text: v})] : []
      });
    })));
    var lane = laneOf(element);
    if (lane) roleField(lane);
    else panel.appendChild(el('p', {className: 'form-help', text: t('lane_none')}));
    timersOf(element);
  }

  function chooseForm(element, name) {
    setProperty(element, 'formJsonSchemaFilename', name);
    var ui = name ? name.replace(/\.schema\.json$/, '.ui.json') : '';
    setProperty(element, 'formUiSchemaFilename', ui && state.files['forms/' + ui] !== undefined ? ui : '');
  }

  function slug(text) {
    return (text || '').normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[đĐ]/g, 'd').toLowerCase()
      .replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 60) || 'buoc';
  }

  function newForm(element) {
    var title = element.businessObject.name || t('new_form_title');
    var base = slug(title), name = base + '.schema.json', n = 2;
    while (state.files['forms/' + name] !== undefined) name = base + '-' + (n++) + '.schema.json';
    var schema = {
      $schema: 'https://json-schema.org/draft/2020-12/schema', title: title, type: 'object',
      required: ['ket_qua_xu_ly'],
      properties: {
        ket_qua_xu_ly: {type: 'string', title: t('new_form_field'), minLength: 2, maxLength: 2000}
      }
    };
    setFile('forms/' + name, JSON.stringify(schema, null, 2) + '\n');
    renderFiles();
    chooseForm(element, name);
  }

  function roleField(lane) {
    var name = lane.businessObject.name || '';
    var data = manifest();
    if (!data) {
      panel.appendChild(el('p', {className: 'form-help', text: t('manifest_bad')}));
      return;
    }
    if (!name) {
      panel.appendChild(el('p', {className: 'form-help', text: t('lane_unnamed')}));
      return;
    }
    var lanes = data.lanes && typeof data.lanes === 'object' ? data.lanes : {};
    var options = [['', t('role_none')]].concat(state.catalog.roles.map(function (r) { return [r.code, r.label]; }));
    panel.appendChild(field(t('role', {lane: name}), select(options, lanes[name] || '', function (v) {
      var fresh = manifest();
      if (!fresh) return;
      fresh.lanes = fresh.lanes && typeof fresh.lanes === 'object' ? fresh.lanes : {};
      if (v) fresh.lanes[name] = v; else delete fresh.lanes[name];
      setFile('procedure.json', JSON.stringify(fresh, null, 2) + '\n');
      changed();
    }), t('role_help')));
  }

  // An inter-agency procedure: the agency doing a pool's steps, in the manifest's `participants` by the pool's name.
  function poolAgencyField(pool) {
    var name = pool.businessObject.name || '';
    var data = manifest();
    if (!data) {
      panel.appendChild(el('p', {className: 'form-help', text: t('manifest_bad')}));
      return;
    }
    if (!name) {
      panel.appendChild(el('p', {className: 'form-help', text: t('pool_unnamed')}));
      return;
    }
    var pools = data.participants && typeof data.participants === 'object' ? data.participants : {};
    var options = [['', t('pool_agency_none')]].concat(state.catalog.agencies.map(function (a) {
      return [a.code, a.label];
    }));
    panel.appendChild(field(t('pool_agency', {pool: name}), select(options, pools[name] || '', function (v) {
      var fresh = manifest();
      if (!fresh) return;
      fresh.participants = fresh.participants && typeof fresh.participants === 'object' ? fresh.participants : {};
      if (v) fresh.participants[name] = v; else delete fresh.participants[name];
      if (!Object.keys(fresh.participants).length) delete fresh.participants;
      setFile('procedure.json', JSON.stringify(fresh, null, 2) + '\n');
      changed();
    }), t('pool_agency_help')));
  }

  function serviceTaskFields(element) {
    var bo = element.businessObject;
    var operator = extension(bo, SPIFF + 'ServiceTaskOperator');
    var operations = state.catalog.operations;
    var current = operator ? operator.id : '';
    var options = [['', t('operation_none')]].concat(Object.keys(operations).map(function (op) { return [op, op]; }));
    var modeling = modeler.get('modeling');
    panel.appendChild(field(t('operation'), select(options, current, function (v) {
      if (!v) {
        var ext = bo.extensionElements;
        if (ext && operator) modeling.updateModdleProperties(element, ext, {
          values: ext.get('values').filter(function (x) { return x !== operator; })
        });
        return;
      }
      var found = ensureExtension(element, SPIFF + 'ServiceTaskOperator', {id: v});
      if (found.id !== v) modeling.updateModdleProperties(element, found, {id: v});
    })));
    if (!operator || !operations[operator.id]) return;
    panel.appendChild(field(t('result_var'), input(operator.resultVariable, function (v) {
      modeling.updateModdleProperties(element, operator, {resultVariable: v || undefined});
    }), t('result_var_help')));
    var schema = operations[operator.id];
    var required = schema.required || [];
    var params = (operator.parameters && operator.parameters.get('parameters')) || [];
    var box = el('fieldset', {}, [el('legend', {text: t('params')})]);
    Object.keys(schema.properties || {}).forEach(function (name) {
      var spec = schema.properties[name];
      var existing = params.filter(function (p) { return p.id === name; })[0];
      var help = [spec.type === 'integer' ? t('type_int') : t('type_str')];
      if (required.indexOf(name) >= 0) help.push(t('required'));
      if (spec.pattern) help.push(spec.pattern);
      var control = input(existing ? existing.value : '', function (v) { setParameter(element, operator, name, spec, v); });
      var wrap = el('div', {}, []);
      wrap.appendChild(field(name, control, help.join(' · ')));
      box.appendChild(wrap);
    });
    panel.appendChild(box);
  }

  function setParameter(element, operator, name, spec, value) {
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    var list = operator.parameters;
    if (!list) {
      list = moddle.create(SPIFF + 'Parameters', {parameters: []});
      list.$parent = operator;
      modeling.updateModdleProperties(element, operator, {parameters: list});
    }
    var params = list.get('parameters');
    var existing = params.filter(function (p) { return p.id === name; })[0];
    if (!value) {
      if (existing) modeling.updateModdleProperties(element, list, {
        parameters: params.filter(function (p) { return p !== existing; })
      });
      return;
    }
    if (existing) {
      modeling.updateModdleProperties(element, existing, {value: value});
      return;
    }
    var created = moddle.create(SPIFF + 'Parameter', {id: name, type: spec.type === 'integer' ? 'int' : 'str',
                                                      value: value});
    created.$parent = list;
    modeling.updateModdleProperties(element, list, {parameters: params.concat([created])});
  }

  function conditionField(element) {
    var bo = element.businessObject;
    var source = bo.sourceRef;
    if (!source || !(is(source, 'bpmn:ExclusiveGateway') || is(source, 'bpmn:InclusiveGateway'))) return;
    if (source.default === bo) {
      panel.appendChild(el('p', {className: 'form-help', text: t('default_flow')}));
      return;
    }
    var body = bo.conditionExpression ? bo.conditionExpression.body : '';
    panel.appendChild(field(t('condition'), textarea(body, function (v) {
      var moddle = modeler.get('moddle');
      modeler.get('modeling').updateProperties(element, {
        conditionExpression: v ? moddle.create('bpmn:FormalExpression', {body: v}) : undefined
      });
    }), t('condition_help')));
  }

  function timerDefinition(bo) {
    return (bo.get('eventDefinitions') || []).filter(function (d) { return is(d, 'bpmn:TimerEventDefinition'); })[0];
  }

  function timersOf(element) {
    var attached = (element.attachers || []).filter(function (a) { return timerDefinition(a.businessObject); });
    var box = el('fieldset', {className: 'timers'}, [el('legend', {text: t('timers')})]);
    if (!attached.length) box.appendChild(el('p', {className: 'muted', text: t('timer_none')}));
    attached.forEach(function (timer) {
      var definition = timerDefinition(timer.businessObject);
      var value = ['timeDuration', 'timeDate', 'timeCycle'].map(function (k) {
        return definition[k] ? definition[k].body : '';
      }).filter(Boolean)[0] || t('timer_unset');
      box.appendChild(el('p', {}, [button((timer.businessObject.name || timer.id) + ' — ' + value, function () {
        modeler.get('selection').select(timer);
      }, 'link')]));
    });
    box.appendChild(button(t('timer_add'), function () { addTimer(element); }));
    panel.appendChild(box);
  }

  function addTimer(task) {
    var factory = modeler.get('elementFactory');
    var shape = factory.createShape({type: 'bpmn:BoundaryEvent', eventDefinitionType: 'bpmn:TimerEventDefinition'});
    var taken = (task.attachers || []).length;
    var created = modeler.get('modeling').createShape(shape, {
      x: task.x + task.width - 18 - 40 * taken, y: task.y + task.height
    }, task, {attach: true});
    modeler.get('selection').select(created);
  }

  function timerFields(element) {
    var bo = element.businessObject;
    var definition = timerDefinition(bo);
    if (!definition) return;
    var kinds = ['timeDuration', 'timeDate', 'timeCycle'];
    var kind = kinds.filter(function (k) { return definition[k]; })[0] || 'timeDuration';
    var value = definition[kind] ? definition[kind].body : '';
    var modeling = modeler.get('modeling');
    var moddle = modeler.get('moddle');
    function write(newKind, newValue) {
      var changes = {timeDuration: undefined, timeDate: undefined, timeCycle: undefined};
      if (newValue) changes[newKind] = moddle.create('bpmn:FormalExpression', {body: newValue});
      modeling.updateModdleProperties(element, definition, changes);
    }
    var kindSelect = select(kinds.map(function (k) { return [k, t('timer_' + k)]; }), kind, function (v) {
      kind = v;
      write(v, value);
    });
    panel.appendChild(field(t('timer_kind'), kindSelect));
    panel.appendChild(field(t('timer_value'), input(value, function (v) {
      value = v;
      write(kind, v);
    }), t('timer_help')));
    if (is(bo, 'bpmn:BoundaryEvent')) {
      var interrupting = el('input', {type: 'checkbox'});
      interrupting.checked = bo.cancelActivity !== false;
      var id = 'prop-' + (++fieldSeq);
      interrupting.id = id;
      interrupting.addEventListener('change', function () {
        modeling.updateProperties(element, {cancelActivity: interrupting.checked});
      });
      panel.appendChild(el('div', {className: 'form-field checkbox'}, [
        interrupting, el('label', {for: id, text: t('interrupting')})]));
    }
  }

  start();
}());
