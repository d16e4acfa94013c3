/* The leaders' dashboard (templates/statistics/dashboard.html): two bar charts drawn with Chart.js (served by the
   platform from node_modules, app/web/vendor.py) from the figures the page carries in data-chart, which are the
   same as its table's. Without the library the table stays and a note says the charts could not be drawn. */
(function () {
  'use strict';
  var box = document.getElementById('dashboard-charts');
  if (!box) { return; }
  if (typeof window.Chart === 'undefined') {
    var missing = document.getElementById('chart-missing');
    if (missing) { missing.hidden = false; }
    box.hidden = true;
    return;
  }
  var data = JSON.parse(box.getAttribute('data-chart'));
  var colours = {
    finished_before: '#1b7f3b', finished_on_time: '#1f5fbf', finished_late: '#c62828', open_overdue: '#e08a00',
    received_online: '#1f5fbf', received_in_person: '#6b7280', digitized: '#0f8a8a'
  };
  var narrow = window.matchMedia('(max-width: 640px)').matches;

  // A label long enough to read and short enough to leave the bars room: by the chart's width as drawn now
  // (it changes with the window).
  function shortLabel(text, width) {
    var most = width < 420 ? 16 : width < 700 ? 28 : 44;
    return text.length > most ? text.slice(0, most - 1) + '…' : text;
  }

  function draw(canvasId, series, stacks) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) { return; }
    var area = canvas.parentNode;
    area.style.height = Math.max(220, data.labels.length * (narrow ? 44 : 36) + 90) + 'px';
    return new window.Chart(canvas, {
      type: 'bar',
      data: {
        labels: data.labels,
        datasets: series.map(function (s) {
          return { label: s.label, data: s.data, backgroundColor: colours[s.key] || '#333', stack: stacks(s.key) };
        })
      },
      options: {
        indexAxis: 'y', animation: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: { stacked: true, beginAtZero: true, ticks: { precision: 0 } },
          y: { stacked: true, ticks: { callback: function (value) {
            return shortLabel(String(this.getLabelForValue(value)), this.chart.width);
          } } }
        },
        plugins: { legend: { position: 'bottom' } }
      }
    });
  }

  draw('chart-results', data.results, function () { return 'results'; });
  draw('chart-received', data.received, function (key) { return key === 'digitized' ? 'digitized' : 'received'; });
})();
