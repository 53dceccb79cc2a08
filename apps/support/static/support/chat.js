/* The ticket's chat page in the admin (admin/support/ticket/chat.html). The page works without this script; with it:
   - the "internal note" switch marks the reply box and its button as a note's;
   - picking a canned reply puts its text (filled in for this ticket) into the message, to edit before sending;
   - the ticket's staff event stream (data-events-url) appends new messages and shows status and priority changes
     without a reload.
   Every text from the server is set with textContent: bodies and names are user text, never HTML. */
(function () {
    "use strict";

    var root = document.getElementById("support-chat");
    if (!root) {
        return;
    }

    var composer = document.getElementById("support-composer");
    var thread = document.getElementById("support-thread");

    function noteSwitch() {
        var internal = composer && composer.querySelector("input[name=internal]");
        var send = document.getElementById("support-send");
        if (!internal || !send) {
            return;
        }
        function sync() {
            composer.classList.toggle("support-composer--note", internal.checked);
            send.textContent = internal.checked ? send.dataset.noteLabel : send.dataset.replyLabel;
        }
        internal.addEventListener("change", sync);
        sync();
    }

    function cannedPicker() {
        var picker = composer && composer.querySelector("select[name=canned_reply]");
        var body = composer && composer.querySelector("textarea[name=body]");
        var data = document.getElementById("support-canned");
        if (!picker || !body || !data) {
            return;
        }
        var texts = {};
        JSON.parse(data.textContent || "[]").forEach(function (reply) {
            texts[String(reply.id)] = reply.text;
        });
        var hint = document.createElement("p");
        hint.className = "support-canned-hint";
        hint.hidden = true;
        picker.closest(".form-field").after(hint);
        picker.addEventListener("change", function () {
            var text = texts[picker.value];
            if (text === undefined) {
                return;
            }
            var start = body.selectionStart || 0;
            var end = body.selectionEnd || 0;
            var before = body.value.slice(0, start);
            var after = body.value.slice(end);
            var glue = before && !before.endsWith("\n") ? "\n\n" : "";
            body.value = before + glue + text + (after && !after.startsWith("\n") ? "\n\n" : "") + after;
            // Its text is in the message now: sending the choice too would add it twice.
            picker.value = "";
            hint.textContent = "The canned reply is in your message: edit it as you like before sending.";
            hint.hidden = false;
            body.focus();
        });
    }

    function element(tag, className, text) {
        var node = document.createElement(tag);
        if (className) {
            node.className = className;
        }
        if (text !== undefined && text !== null) {
            node.textContent = String(text);
        }
        return node;
    }

    function shortTime(value) {
        var date = new Date(value);
        if (isNaN(date.getTime())) {
            return "";
        }
        return date.toLocaleString(undefined, {day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"});
    }

    function appendMessage(message) {
        if (!thread || !message || message.id === undefined) {
            return;
        }
        if (thread.querySelector('[data-message-id="' + String(Number(message.id)) + '"]')) {
            return;
        }
        var classes = "support-msg " + (message.from_staff ? "support-msg--staff" : "support-msg--customer");
        if (message.internal) {
            classes += " support-msg--note";
        }
        var article = element("article", classes);
        article.id = "message-" + Number(message.id);
        article.dataset.messageId = String(Number(message.id));
        if (message.internal) {
            article.dataset.internal = "true";
        }
        var head = element("header", "support-msg__head");
        head.appendChild(element("span", "support-msg__author", message.author));
        if (message.internal) {
            head.appendChild(element("span", "support-msg__tag", "Internal note"));
        }
        var time = element("time", null, shortTime(message.created_at));
        time.setAttribute("datetime", message.created_at || "");
        head.appendChild(time);
        article.appendChild(head);
        article.appendChild(element("div", "support-msg__body", message.body));
        var files = message.attachments || [];
        if (files.length) {
            var list = element("ul", "support-msg__files");
            files.forEach(function (file) {
                var item = element("li");
                var link = element("a", null, file.name);
                // Only the API's own download paths: a link is never javascript: or another site.
                if (typeof file.url === "string" && file.url.charAt(0) === "/" && file.url.charAt(1) !== "/") {
                    link.href = file.url;
                    link.setAttribute("download", "");
                }
                item.appendChild(link);
                list.appendChild(item);
            });
            article.appendChild(list);
        }
        article.appendChild(element("footer", "support-msg__receipt", message.internal ? "Staff only" : ""));
        var empty = thread.querySelector("[data-empty]");
        if (empty) {
            empty.remove();
        }
        thread.insertBefore(article, document.getElementById("thread-end"));
        thread.scrollTop = thread.scrollHeight;
    }

    function showState(kind, state) {
        var selector = kind === "priority" ? "[data-ticket-priority]" : "[data-ticket-status]";
        var value = kind === "priority" ? state.priority : state.status;
        var holder = root.querySelector(selector);
        if (!holder || !value) {
            return;
        }
        holder.setAttribute(kind === "priority" ? "data-ticket-priority" : "data-ticket-status", value);
        var label = holder.firstElementChild || holder;
        label.textContent = String(value).replace(/_/g, " ");
    }

    function follow() {
        var url = root.dataset.eventsUrl;
        if (!url || !window.EventSource) {
            return;
        }
        var since = Number(root.dataset.lastEvent || 0);
        var source = new EventSource(url + (url.indexOf("?") < 0 ? "?" : "&") + "since=" + since);
        var live = root.querySelector(".support-chat__live");

        function handle(name, event) {
            var payload;
            try {
                payload = JSON.parse(event.data);
            } catch (error) {
                return;
            }
            // The stream sends each event's envelope ({id, kind, data, ...}) or its data alone, named by its kind.
            var kind = payload && payload.kind && payload.data ? payload.kind : name;
            var data = payload && payload.kind && payload.data ? payload.data : payload;
            if (kind === "message") {
                appendMessage(data);
            } else if (kind === "status" || kind === "priority") {
                showState(kind, data);
            }
        }

        ["message", "status", "priority"].forEach(function (name) {
            source.addEventListener(name, function (event) {
                handle(name, event);
            });
        });
        source.addEventListener("open", function () {
            if (live) {
                live.hidden = false;
            }
        });
        source.addEventListener("error", function () {
            if (live) {
                live.hidden = true;
            }
        });
        window.addEventListener("pagehide", function () {
            source.close();
        });
    }

    noteSwitch();
    cannedPicker();
    follow();
})();
