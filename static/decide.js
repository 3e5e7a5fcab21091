// Polls, proposals and events without reloads, and times in this device's zone.
// Every form here also works as a plain POST; this file only makes it quicker.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var deviceZone = "";
  try { deviceZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { deviceZone = ""; }
  var lang = document.documentElement.lang || undefined;

  function city(zone) { return zone.split("/").pop().replace(/_/g, " "); }

  function parts(date, zone, options) {
    var out = {};
    new Intl.DateTimeFormat(lang, Object.assign({ timeZone: zone }, options)).formatToParts(date)
      .forEach(function (p) { out[p.type] = p.value; });
    return out;
  }

  function dayKey(date, zone) {
    var p = parts(date, zone, { year: "numeric", month: "2-digit", day: "2-digit" });
    return p.year + "-" + p.month + "-" + p.day;
  }

  // Fill "· 16:00 your time (Paris, CET)" next to times the server could not place in the reader's zone.
  function fillDeviceTimes(root) {
    if (!deviceZone) return;
    root.querySelectorAll("[data-from-device]").forEach(function (slot) {
      var holder = slot.closest(".zoned");
      if (!holder) return;
      var when = new Date(holder.dataset.utc);
      if (isNaN(when)) return;
      var organiser = holder.dataset.zone;
      if (organiser === deviceZone) {
        slot.textContent = " · " + slot.dataset.same;
      } else {
        var t = parts(when, deviceZone, { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZoneName: "short" });
        var time = t.hour + ":" + t.minute;
        if (dayKey(when, deviceZone) !== dayKey(when, organiser)) {
          var d = parts(when, deviceZone, { weekday: "short", day: "numeric", month: "short" });
          time = d.weekday + " " + d.day + " " + d.month + ", " + time;
        }
        var label = city(deviceZone) + (t.timeZoneName ? ", " + t.timeZoneName : "");
        slot.textContent = " · " + slot.dataset.other.replace("{time}", time).replace("{zone}", label);
      }
      slot.hidden = false;
    });
  }

  // The profile says one zone, this device another: say so, and offer the one-click fix.
  function zoneNotice() {
    var box = document.getElementById("zone-notice");
    if (!box || !deviceZone) return;
    var profile = box.dataset.profileZone || "";
    if (profile === deviceZone) return;
    if (!profile && !document.querySelector(".zoned")) return;
    var dismissed = "";
    try { dismissed = window.localStorage.getItem("forum-zone-notice") || ""; } catch (e) { dismissed = ""; }
    if (dismissed === profile + "|" + deviceZone) return;
    var message = profile ? box.dataset.mismatch : box.dataset.unset;
    box.querySelector(".zone-notice-text").textContent = message.replace("{device}", city(deviceZone));
    box.querySelector("input[name=timezone]").value = deviceZone;
    box.querySelector(".zone-fix").textContent = box.dataset.button.replace("{device}", city(deviceZone));
    box.querySelector(".zone-dismiss").addEventListener("click", function () {
      try { window.localStorage.setItem("forum-zone-notice", profile + "|" + deviceZone); } catch (e) { /* private mode */ }
      box.hidden = true;
    });
    box.hidden = false;
  }

  function replaceWith(target, html) {
    var holder = document.createElement("div");
    holder.innerHTML = html; // rendered by the server from sanitised content
    var fresh = holder.firstElementChild;
    if (!fresh) return;
    target.replaceWith(fresh);
    fillDeviceTimes(fresh);
  }

  function showError(target, text) {
    var box = target.querySelector(".decide-error");
    if (!box) {
      box = document.createElement("p");
      box.className = "alert decide-error";
      box.setAttribute("role", "alert");
      target.prepend(box);
    }
    box.textContent = text;
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.dataset || !form.dataset.decideReplace) return;
    var target = document.querySelector(form.dataset.decideReplace);
    if (!target || !window.fetch || !window.FormData) return;
    event.preventDefault();
    var data = new FormData(form, event.submitter || undefined);
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Accept": "text/html, application/json;q=0.5",
                 "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(data).toString()
    }).then(function (response) {
      var type = response.headers.get("content-type") || "";
      if (type.indexOf("text/html") === 0) {
        return response.text().then(function (html) { replaceWith(target, html); });
      }
      return response.json().then(function (body) {
        var t = window.forumT || function (text) { return text; };
        showError(target, (body.errors || []).join(" ") || t("Something went wrong with that request."));
      });
    }).catch(function () {
      form.submit(); // the plain form still works
    }).finally(function () {
      buttons.forEach(function (b) { b.disabled = false; });
    });
  });

  // Others' votes appear without a reload while the page is open and nobody is mid-vote.
  function refreshPolls() {
    if (document.visibilityState !== "visible") return;
    document.querySelectorAll(".poll-widget[data-poll-id]").forEach(function (widget) {
      if (widget.contains(document.activeElement) || widget.dataset.dirty) return;
      fetch("/polls/" + widget.dataset.pollId, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          var current = document.getElementById(widget.id);
          if (html && current && !current.dataset.dirty && !current.contains(document.activeElement)) replaceWith(current, html);
        }).catch(function () { /* try again next time */ });
    });
  }
  window.forumRefreshPolls = refreshPolls;  // static/live.js calls it when a vote is cast elsewhere
  document.addEventListener("change", function (event) {
    var widget = event.target.closest && event.target.closest(".poll-widget");
    if (widget) widget.dataset.dirty = "1";
  });
  if (document.querySelector(".poll-widget")) window.setInterval(refreshPolls, 20000);

  fillDeviceTimes(document);
  zoneNotice();
})();
