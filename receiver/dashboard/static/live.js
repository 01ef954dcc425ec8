// Live updates for the dashboard: task changes arrive as server-sent events from
// /dashboard/events and update the rows, badges and progress bars in place.
// Every value is written with textContent or a property, never as HTML.
(function () {
  "use strict";
  var TERMINAL = { succeeded: 1, failed: 1, cancelled: 1 };
  var body = document.body;
  var indicator = document.getElementById("live");
  if (!indicator || !window.EventSource) { return; }

  function setStatus(el, status) {
    el.textContent = status;
    el.className = "badge s-" + status;
  }

  function money(value) {
    return value === null || value === undefined ? "\u2013" : "$" + Number(value).toFixed(2);
  }

  function webUrl(value) {
    return typeof value === "string" && /^https?:\/\//.test(value) ? value : null;
  }

  function fill(scope, task) {
    scope.querySelectorAll("[data-field=status]").forEach(function (el) { setStatus(el, task.status); });
    scope.querySelectorAll("[data-field=progress]").forEach(function (el) { el.value = task.progress || 0; });
    scope.querySelectorAll("[data-field=pct]").forEach(function (el) { el.textContent = (task.progress || 0) + "%"; });
    scope.querySelectorAll("[data-field=cost]").forEach(function (el) { el.textContent = money(task.cost_usd); });
    scope.querySelectorAll("[data-field=video]").forEach(function (el) {
      var url = webUrl(task.watch_url || task.video_url);
      if (!url && !task.error) { return; }
      el.textContent = "";
      if (url) {
        var a = document.createElement("a");
        a.href = url; a.rel = "noopener noreferrer"; a.textContent = "\u25b6 watch";
        el.appendChild(a);
      } else {
        var s = document.createElement("span");
        s.className = "err"; s.title = task.error; s.textContent = task.error.slice(0, 40);
        el.appendChild(s);
      }
    });
  }

  function wanted(task) {
    var status = body.getAttribute("data-filter-status");
    var provider = body.getAttribute("data-filter-provider");
    return (!status || status === task.status) && (!provider || provider === task.provider);
  }

  function insertRow(task) {
    var template = document.getElementById("task-row");
    var tbody = document.querySelector("#tasks tbody");
    if (!template || !tbody) { return; }
    var row = template.content.firstElementChild.cloneNode(true);
    row.setAttribute("data-task-id", task.id);
    var link = row.querySelector("a.prompt");
    link.href = "/dashboard/tasks/" + encodeURIComponent(task.id);
    link.textContent = (task.prompt || task.model).slice(0, 70);
    row.querySelector(".id").textContent = task.id;
    var prov = row.querySelector(".prov");
    prov.textContent = task.provider; prov.className = "prov p-" + task.provider;
    row.querySelector(".model").textContent = task.model;
    fill(row, task);
    var empty = tbody.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    tbody.insertBefore(row, tbody.firstChild);
    row.classList.add("fresh");
  }

  function onTask(task) {
    var rows = document.querySelectorAll('[data-task-id="' + CSS.escape(task.id) + '"]');
    if (rows.length) {
      rows.forEach(function (row) { fill(row, task); row.classList.add("pulse"); setTimeout(function () { row.classList.remove("pulse"); }, 600); });
    } else if (body.getAttribute("data-live-insert") === "1" && wanted(task)) {
      insertRow(task);
    }
    // A task page that just finished reloads once, to show the video and the whole timeline.
    if (body.getAttribute("data-task") === task.id && body.getAttribute("data-finished") === "0" && TERMINAL[task.status]) {
      body.setAttribute("data-finished", "1");
      window.location.reload();
    }
  }

  var source = new EventSource("/dashboard/events");
  source.onopen = function () { indicator.textContent = "live"; indicator.classList.add("on"); };
  source.onerror = function () { indicator.textContent = "reconnecting"; indicator.classList.remove("on"); };
  source.addEventListener("task", function (event) { onTask(JSON.parse(event.data)); });
})();
