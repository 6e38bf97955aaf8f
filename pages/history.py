"""History: saved live and video sessions. Open one, compare two, export CSV, delete one or all."""

from datetime import datetime

import pandas as pd
import streamlit as st

from fer_core.app.charts import compare_timelines_figure, distribution_figure, shares_figure, timeline_figure
from fer_core.core.records import records_to_csv
from fer_core.app.storage import SessionNotFoundError, StorageError
from fer_core.core.timeline import Timeline
from pages._common import access_token_set, guard_page, load_store, plain, show_error

guard_page()  # first: the router and the token, however the page was entered

st.title("History")
st.caption("Saved sessions hold emotion scores per face and frame (time, box, label, probabilities), never images.")

store = load_store()
if store is None:
    st.button("Try again", key="history_retry_open")
    st.stop()
if not access_token_set():  # one's own app: say where; a shared one keeps its paths to itself (README)
    st.caption(f"Sessions are kept in {plain(store.location)}.")

flash = st.session_state.pop("history_flash", None)
if flash:
    st.success(flash)


def _when(s: dict) -> str:
    raw = s.get("started_at") or s.get("created_at") or ""
    try:
        return datetime.fromisoformat(raw).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return raw


def _duration(seconds: float) -> str:
    seconds = int(round(seconds or 0))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}" if seconds >= 3600 \
        else f"{seconds // 60}:{seconds % 60:02d}"


def _sessions(n: int) -> str:
    """'1 session', '2 sessions'."""
    return f"{n} session" if n == 1 else f"{n} sessions"


def _label(s: dict) -> str:
    return f"#{s['id']} - {_when(s)} - {s['source']} - {_duration(s['duration_s'])} - {s['dominant_emotion'] or 'no faces'}"


def _load(session_id: int) -> tuple[dict, list[dict]] | None:
    try:
        return store.load_session(session_id)
    except SessionNotFoundError as exc:
        st.warning(str(exc))
    except StorageError as exc:
        show_error(str(exc))
    return None


def _show_timeline(records: list[dict], key: str, distribution: bool = False) -> None:
    """Emotion-over-time chart (fer_core.app.charts), one face at a time when several were seen."""
    if not records:
        st.info("No faces were recorded in this session.")
        return
    try:
        tl = Timeline.from_records(records)
        face = None
        if len(tl.face_ids) > 1:
            face = st.selectbox("Face", tl.face_ids, key=f"{key}_face", format_func=lambda f: f"face {f}")
        st.plotly_chart(timeline_figure(tl, face_id=face), width="stretch", key=f"{key}_timeline")
        if distribution:
            st.plotly_chart(distribution_figure(tl), width="stretch", key=f"{key}_distribution")
    except (ValueError, KeyError) as exc:
        st.warning(f"This session's timeline cannot be drawn: {exc}")


try:
    sessions = store.list_sessions()
except StorageError as exc:
    show_error(str(exc))
    st.button("Try again", key="history_retry")
    st.stop()

if not sessions:
    st.info("No saved sessions yet. A live session is saved while the webcam stream plays (with the save "
            "switch on); a video analysis is saved when it finishes.")
    st.stop()

st.dataframe(pd.DataFrame([{
    "id": s["id"], "date": _when(s), "source": s["source"], "duration": _duration(s["duration_s"]),
    "dominant emotion": s["dominant_emotion"] or "-", "face tracks": s.get("n_faces"),
    "emotion records": s["n_records"],
} for s in sessions]), hide_index=True)

by_id = {s["id"]: s for s in sessions}
ids = list(by_id)
# After a delete the pickers are told what they now show: a browser keeps showing a keyed
# selectbox's old choice (the deleted session) unless the script sets the value it uses.
if "history_follow" in st.session_state:
    st.session_state["history_open"] = st.session_state.pop("history_follow")
    st.session_state["history_compare"] = None
chosen = st.selectbox("Open a session", ids, format_func=lambda i: _label(by_id[i]), key="history_open")
loaded = _load(chosen)
if loaded is None:
    st.stop()
info, records = loaded

file_name = info["meta"].get("file_name")
st.subheader(f"Session #{chosen}: {plain(info['source'])}" + (f" ({plain(file_name)})" if file_name else ""))
c1, c2, c3, c4 = st.columns(4)
c1.metric("Duration", _duration(info["duration_s"]))
c2.metric("Dominant emotion", info["dominant_emotion"] or "-")
c3.metric("Face tracks", info.get("n_faces", 0), help="Faces followed from frame to frame (see the Video page).")
c4.metric("Emotion records", info["n_records"], help="One per face per analysed moment: what the session holds.")
_show_timeline(records, "open", distribution=True)

st.download_button("Download CSV", records_to_csv(records), file_name=f"fer_session_{chosen}.csv",
                   mime="text/csv", icon=":material/download:", key="history_csv")

st.subheader("Compare")
others = [i for i in ids if i != chosen]
other = st.selectbox("Compare with", [None, *others], key="history_compare",
                     format_func=lambda i: "(choose a second session)" if i is None else _label(by_id[i]))
if other is not None:
    second = _load(other)
    if second is not None:
        info2, records2 = second
        st.plotly_chart(shares_figure({f"#{chosen} {info['source']}": records,
                                        f"#{other} {info2['source']}": records2}), width="stretch",
                        key="cmp_shares")
        # One chart, both sessions stacked on one time axis at full width; the face pickers sit side by side.
        shown = []
        for column, sid, head, recs in zip(st.columns(2), (chosen, other), (info, info2), (records, records2)):
            with column:
                st.markdown(f"**#{sid}** ({plain(head['source'])}, {_duration(head['duration_s'])}, "
                            f"mostly {head['dominant_emotion'] or '-'})")
                tl = Timeline.from_records(recs)
                face = None
                if len(tl.face_ids) > 1:
                    face = st.selectbox("Face", tl.face_ids, key=f"cmp_{sid}_face", format_func=lambda f: f"face {f}")
                shown.append((f"#{sid}", tl, face))
        st.plotly_chart(compare_timelines_figure(shown), width="stretch", key="cmp_timelines")

st.subheader("Delete")
pending = st.session_state.get("history_pending_delete")
if pending is None:
    a, b = st.columns(2)
    if a.button(f"Delete session #{chosen}", icon=":material/delete:", key="history_delete_one"):
        st.session_state["history_pending_delete"] = chosen
        st.rerun()
    # With one session, "delete all" would only repeat the button beside it.
    if len(sessions) > 1 and b.button(f"Delete all {_sessions(len(sessions))}", icon=":material/delete_forever:",
                                      key="history_delete_all"):
        st.session_state["history_pending_delete"] = "all"
        st.rerun()
else:
    what = "all saved sessions" if pending == "all" else f"session #{pending}"
    st.warning(f"Delete {what}? This cannot be undone.")
    a, b = st.columns(2)
    if a.button("Yes, delete", type="primary", key="history_confirm"):
        st.session_state.pop("history_pending_delete", None)
        try:
            if pending == "all":
                n = store.delete_all()
                st.session_state["history_flash"] = f"Deleted {_sessions(n)}."
            else:
                store.delete_session(pending)
                st.session_state["history_flash"] = f"Deleted session #{pending}."
            left = [i for i in ids if pending != "all" and i != pending]
            if left:
                st.session_state["history_follow"] = left[0]  # the newest left, as on a first visit
            else:
                st.session_state.pop("history_open", None)
                st.session_state.pop("history_compare", None)
        except (SessionNotFoundError, StorageError) as exc:
            st.session_state["history_flash"] = None
            show_error(str(exc))
            st.stop()
        st.rerun()
    if b.button("Cancel", key="history_cancel"):
        st.session_state.pop("history_pending_delete", None)
        st.rerun()
