"""`evalkit view RUN` (a Streamlit script, started by that command; kept out of study_app/, whose folder the study puts
on its import path): browse a run's advice item by item, to find out why a system fails (read-only).

Filters by system, condition, style and judge; sorted by the worst balance improvement or by judge disagreement. Each
item shows the prompt its condition shows, the advice, the claims the reader found next to the true correction, every
judge's verdicts, and players for the problem mix, the mix with the advice applied and the balanced mix. The query
string ``?system=S&item=ID`` opens one item (the report's worst-items table gives it).
"""

import os

import streamlit as st

from evalkit.report.browse import claims_table, clips, filtered, open_view, prompt_of, verdicts

st.set_page_config(page_title="evalkit view", layout="wide")
RUN = os.environ["EVALKIT_VIEW_RUN"]


@st.cache_resource
def view():
    return open_view(RUN)


v = view()
q = st.query_params
st.title("evalkit view")
st.caption(f"Run {v.store.display_url}: {len(v.frame)} advice texts from {v.frame.system.nunique()} systems. Read-only.")

with st.sidebar:
    systems = st.multiselect("System", sorted(v.frame.system.unique()), default=[q["system"]] if q.get("system") in
                             set(v.frame.system) else [], key="f-system")
    conditions = st.multiselect("Condition", sorted(v.frame.condition.unique()), key="f-condition")
    styles = st.multiselect("Style", sorted(v.frame["style"].unique()), key="f-style")
    judges = sorted({j for js in v.frame.judges.dropna() for j in js.split(", ") if j})
    judge = st.selectbox("Judged by", ["any judge", *judges], key="f-judge")
    sort = st.radio("Sort by", ["worst balance improvement", "judge disagreement"], key="f-sort")

rows = filtered(v, systems=systems, conditions=conditions, styles=styles, judge=None if judge == "any judge" else judge,
                sort=sort)
if q.get("item"):
    rows = rows[rows.item_id == q["item"]]
st.subheader(f"{len(rows)} advice texts")
shown = rows[["item_id", "system", "condition", "style", "kind", "balance_improvement_db", "judge_spread"]]
st.dataframe(shown.head(200), hide_index=True, width="stretch", key="rows")
if not len(rows):
    st.stop()

labels = [f"{r.item_id} · {r.system} · {r.condition} ({r.balance_improvement_db:+.2f} dB)" for r in rows.head(200).itertuples()]
pick = st.selectbox("Item", range(len(labels)), format_func=lambda k: labels[k], key="pick")
r = rows.iloc[pick]
a, item = v.advice[r.advice_id], v.items[r.item_id]

st.header(f"{item.id} · {a.arm}")
st.markdown(f"**{item.kind}** item of song `{item.song_id}` ({r['style']}); balance improvement "
            f"**{r.balance_improvement_db:+.2f} dB**" + (f"; reference track `{a.reference_song_id}`" if a.reference_song_id else ""))
left, right = st.columns(2)
with left:
    st.subheader("Advice")
    st.text(a.text)  # plain text: nothing in an advice renders as markup
    st.subheader("Claims against the truth")
    ct = claims_table(a, item, v.opts)
    st.table(ct.set_index("stem"))
    st.bar_chart(ct.set_index("stem")[["truth_db", "claimed_db"]], stack=False, height=220)
with right:
    st.subheader("Prompt (as this condition shows it)")
    msgs = prompt_of(v, a)
    if msgs is None:
        st.caption("The run's test set is not on this machine (or the system reads audio): no prompt to show.")
    else:
        for m in msgs:
            st.caption(m["role"])
            st.text(m["content"] if isinstance(m["content"], str) else str(m["content"]))
st.subheader("Judges")
st.table(verdicts(v, a.id))  # an HTML table: rationales are read, not scrolled
audio = clips(v, a)
if audio:
    st.subheader("Listen (loudness-matched)")
    for col, (name, (x, sr)) in zip(st.columns(len(audio)), audio.items(), strict=True):
        with col:
            st.caption(name)
            st.audio(x, sample_rate=sr)
