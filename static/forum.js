// Small enhancements; every page works without this file.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  // The page's language: the strings this script shows, from the catalog the page carries.
  var catalog = {};
  try { catalog = JSON.parse(document.getElementById("forum-i18n").textContent); } catch (e) { /* English */ }
  function t(text) { return catalog[text] || text; }
  window.forumT = t;

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    });
  }

  // Likes without a page reload.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (form.classList.contains("confirm") && !window.confirm(form.dataset.confirm || t("Are you sure?"))) {
      event.preventDefault();
      return;
    }
    if (!form.classList.contains("like-form")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    post(form.action).then(function (response) {
      if (!response.ok) { form.submit(); return null; }
      return response.json();
    }).then(function (data) {
      if (!data) return;
      var liked = data.liked;
      form.action = form.action.replace(/\/(un)?like$/, liked ? "/unlike" : "/like");
      button.classList.toggle("liked", liked);
      button.setAttribute("aria-pressed", liked ? "true" : "false");
      button.querySelector(".like-count").textContent = data.like_count;
      button.querySelector(".like-label").textContent = liked ? (button.dataset.unlike || t("Unlike")) : (button.dataset.like || t("Like"));
    }).finally(function () { button.disabled = false; });
  });

  // Bookmarks toggled in place; their name and reminder are set on the bookmark's own page.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList.contains("bookmark-form") || !form.dataset.edit) return;
    event.preventDefault();
    var button = form.querySelector("button");
    button.disabled = true;
    post(form.action, "quick=1").then(function (response) {
      if (!response.ok) { form.submit(); return null; }
      return response.json();
    }).then(function (data) {
      if (!data) return;
      var marked = data.bookmarked;
      form.action = form.action.replace(/\/(un)?bookmark$/, marked ? "/unbookmark" : "/bookmark");
      button.classList.toggle("bookmarked", marked);
      button.setAttribute("aria-pressed", marked ? "true" : "false");
      var edit = form.parentNode.querySelector("a.bookmark-edit");
      if (edit) edit.hidden = !marked;
    }).finally(function () { button.disabled = false; });
  });

  // Live preview of the composer; the Preview button asks for it at once instead of reloading.
  function showPreview(area) {
    var preview = area.form.querySelector(".preview");
    if (!preview) return;
    post("/preview", "raw=" + encodeURIComponent(area.value)).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data) return;
      preview.hidden = false;
      preview.innerHTML = data.cooked; // already sanitised by the server
    });
  }
  document.querySelectorAll("form.post-form textarea[name=raw]").forEach(function (area) {
    if (!area.form.querySelector(".preview")) return;
    var timer = null;
    area.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { showPreview(area); }, 500);
    });
    var button = area.form.querySelector("button.preview-button");
    if (button) button.addEventListener("click", function (event) {
      event.preventDefault();
      showPreview(area);
    });
  });

  // Drafts kept on the server as you type (Discourse's /drafts.json), so that closing the tab or
  // changing device loses nothing. Each save names the sequence it started from; a draft changed
  // on another device meanwhile is not overwritten unless the writer says so.
  document.querySelectorAll("form.post-form input[name=draft_key]").forEach(function (keyInput) {
    var form = keyInput.form;
    var area = form.querySelector("textarea[name=raw]");
    var seqInput = form.querySelector("input[name=draft_sequence]");
    var status = form.querySelector(".draft-status");
    var discard = form.querySelector("button.discard-draft");
    if (!area || !seqInput) return;
    var timer = null, conflicted = false, last = null;
    function data() {
      var d = { reply: area.value, action: keyInput.value === "new_topic" ? "createTopic" : "reply", archetypeId: "regular" };
      var title = form.querySelector("input[name=title]"), category = form.querySelector("select[name=category]");
      if (title) d.title = title.value;
      if (category && category.value) d.categoryId = parseInt(category.value, 10);
      return d;
    }
    function say(text) { if (status) status.textContent = text; }
    function save(force) {
      var d = data();
      if (!d.reply.trim() && !(d.title || "").trim()) return;
      var json = JSON.stringify(d);
      if (json === last && !force) return;
      var body = "draft_key=" + encodeURIComponent(keyInput.value) + "&sequence=" + encodeURIComponent(seqInput.value) +
        "&data=" + encodeURIComponent(json) + (force ? "&force_save=true" : "");
      post("/drafts.json", body).then(function (r) {
        return r.json().then(function (answer) { return { ok: r.ok, status: r.status, answer: answer }; });
      }).then(function (result) {
        if (result.ok) {
          seqInput.value = result.answer.draft_sequence;
          last = json;
          conflicted = false;
          if (discard) discard.hidden = false;
          say(t("Draft saved"));
        } else if (result.status === 409) {
          conflicted = true;
          say((result.answer.errors || [t("Could not save the draft.")])[0] + " ");
          var again = document.createElement("button");
          again.type = "button";
          again.className = "link";
          again.textContent = t("Save my text over it");
          again.addEventListener("click", function () { save(true); });
          if (status) status.appendChild(again);
        } else {
          say((result.answer.errors || [t("Could not save the draft.")])[0]);
        }
      }).catch(function () { say(t("Could not save the draft.")); });
    }
    form.addEventListener("input", function () {
      if (conflicted) return;
      clearTimeout(timer);
      timer = setTimeout(function () { save(false); }, 1500);
    });
    if (discard) discard.addEventListener("click", function (event) {
      if (!window.confirm(t("Discard your draft? What you typed will be lost."))) { event.preventDefault(); return; }
      clearTimeout(timer);
      var confirmed = document.createElement("input");
      confirmed.type = "hidden";
      confirmed.name = "confirmed";
      confirmed.value = "1";
      form.appendChild(confirmed);
    });
    form.addEventListener("submit", function () { clearTimeout(timer); });
  });

  // Files: the file field uploads at once (with progress) and inserts the file's markdown where the
  // cursor is; files can also be dropped on or pasted into the text box. Without scripts the field
  // goes with the form and the server does the same.
  document.querySelectorAll("form.post-form input[type=file][name=files]").forEach(function (input) {
    var form = input.form;
    var area = form.querySelector("textarea[name=raw]");
    var status = form.querySelector(".upload-status");
    if (!area) return;
    function say(text) { if (status) status.textContent = text; }
    function insert(markdown) {
      var start = area.selectionStart, end = area.selectionEnd;
      var before = area.value.slice(0, start);
      var text = (before && !/\n$/.test(before) ? "\n" : "") + markdown + "\n";
      area.setRangeText(text, start, end, "end");
      area.dispatchEvent(new Event("input", { bubbles: true }));
    }
    function upload(file) {
      var data = new FormData();
      data.append("file", file, file.name || "pasted.png");
      data.append("type", "composer");
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/uploads.json");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("X-Requested-With", "fetch");
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          say(t("Uploading %(name)s: %(percent)s").replace("%(name)s", file.name)
            .replace("%(percent)s", Math.round(100 * e.loaded / e.total) + " %"));
        }
      });
      xhr.addEventListener("load", function () {
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
        if (xhr.status === 200 && answer && answer.markdown) {
          insert(answer.markdown);
          say(t("Attached %(name)s.").replace("%(name)s", file.name));
        } else {
          var reason = answer && answer.errors ? answer.errors[0] : t("Something went wrong with that request.");
          say(t("Could not attach %(name)s: %(reason)s").replace("%(name)s", file.name).replace("%(reason)s", reason));
        }
      });
      xhr.addEventListener("error", function () {
        say(t("Could not attach %(name)s: %(reason)s").replace("%(name)s", file.name)
          .replace("%(reason)s", t("Something went wrong with that request.")));
      });
      xhr.send(data);
    }
    function uploadAll(files) { Array.prototype.forEach.call(files, upload); }
    input.addEventListener("change", function () {
      uploadAll(input.files);
      input.value = ""; // uploaded already: not sent again with the form
    });
    area.addEventListener("dragover", function (event) {
      if (event.dataTransfer && Array.prototype.indexOf.call(event.dataTransfer.types, "Files") >= 0) {
        event.preventDefault();
        area.classList.add("dropping");
      }
    });
    area.addEventListener("dragleave", function () { area.classList.remove("dropping"); });
    area.addEventListener("drop", function (event) {
      area.classList.remove("dropping");
      if (event.dataTransfer && event.dataTransfer.files.length) {
        event.preventDefault();
        uploadAll(event.dataTransfer.files);
      }
    });
    area.addEventListener("paste", function (event) {
      var files = event.clipboardData ? event.clipboardData.files : null;
      if (files && files.length) {
        event.preventDefault();
        uploadAll(files);
      }
    });
  });

  // Quote the selected text (or the whole post) into the reply box on the same page.
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a.quote-link");
    if (!link) return;
    var area = document.getElementById("reply-raw");
    if (!area) return;
    var selection = window.getSelection ? String(window.getSelection()).trim() : "";
    if (!selection) return; // no selection: follow the link, which quotes the whole post
    event.preventDefault();
    var head = '[quote="' + link.dataset.username + ", post:" + link.dataset.postNumber + ", topic:" +
      link.href.match(/\/t\/(\d+)\//)[1] + '"]\n';
    area.value += (area.value ? "\n" : "") + head + selection + "\n[/quote]\n\n";
    area.focus();
  });

  // Keyboard shortcuts, as in Discourse: j/k next/previous post, r reply, l like, b bookmark, ? this help.
  // Never while typing in a field, and never with a modifier key held.
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var posts = Array.prototype.slice.call(document.querySelectorAll("article.post[id^=post_]"));
    var active = document.activeElement;
    var current = active && active.closest ? active.closest("article.post") : null;
    var index = current ? posts.indexOf(current) : -1;
    if ((event.key === "j" || event.key === "k") && posts.length) {
      var next = posts[event.key === "j" ? Math.min(index + 1, posts.length - 1) : Math.max(index - 1, 0)];
      next.setAttribute("tabindex", "-1");
      next.focus();
      next.scrollIntoView({ block: "start" });
      event.preventDefault();
    } else if (event.key === "r") {
      var box = document.getElementById("reply-raw");
      if (box) { box.focus(); event.preventDefault(); }
    } else if (event.key === "l" && current) {
      var like = current.querySelector("button.like");
      if (like) { like.click(); event.preventDefault(); }
    } else if (event.key === "b" && current) {
      var mark = current.querySelector("button.bookmark");
      if (mark) { mark.click(); event.preventDefault(); }
    } else if (event.key === "?") {
      var help = document.getElementById("shortcuts");
      if (help && help.showModal && !help.open) { help.showModal(); event.preventDefault(); }
    }
  });

  // Show exact times in the reader's own zone on hover.
  document.querySelectorAll("time[datetime]").forEach(function (el) {
    var d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) el.title = d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short", timeZoneName: "short" });
  });
})();
