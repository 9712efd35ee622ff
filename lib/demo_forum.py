"""Demo content of the forum and the polls, written through the same library functions as the
pages: threads and replies approved by an inspector, one thread and one reply still waiting, a
reply hidden with its reason, one refused, a reported post, a few sensitive words, and two polls
(one open, one closed) with their votes."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import insert

from lib import audit, forum, polls, privacy
from lib.access import CurrentUser
from lib.models import PollVote

INSPECTOR = CurrentUser(id=None, username="演示纪检监察员", display_name="演示纪检监察员",
                        roles=frozenset({"inspector"}))
ADMIN = CurrentUser(id=None, username="演示数据", display_name="演示数据", roles=frozenset({"admin"}))

WORDS = ["代开发票", "博彩", "刷单", "办证"]

# (topic, title, body, nickname, replies: [(body, nickname)])
THREADS = [
    ("life", "霞山区海滨大道晚上路灯经常不亮",
     "海滨大道观海长廊一段，最近一个月晚上八点以后路灯经常不亮，散步的老人孩子多，存在安全隐患，"
     "希望有关部门尽快检修。", "霞山老街坊",
     [("我也注意到了，特别是靠近渔港公园那一段。", "晚饭后散步"),
      ("已向12345反映过，希望这次能彻底修好。", "路过的市民")]),
    ("policy", "灵活就业人员怎么参加职工养老保险？",
     "本人在赤坎区做网约车司机，户籍在遂溪县，想问一下灵活就业人员参加职工养老保险的条件和缴费档次，"
     "在哪里办理？", "网约车小陈",
     [("可以在“粤省事”小程序上办，选灵活就业人员参保登记。", "热心网友"),
      ("缴费基数可以在 60%–300% 之间自选，按月或按季缴。", "社保经办人员")]),
    ("advice", "建议在湛江西站增加到市区的夜间公交",
     "湛江西站晚上十点后到站的高铁不少，但接驳公交九点多就停了，只能打车。建议增开夜间专线或"
     "延长末班车时间。", "常坐高铁的人",
     [("强烈支持！每次晚到都只能打车。", "麻章上班族"),
      ("可以参考其他城市的“高铁夜班车”做法。", "公交迷")]),
    ("conduct", "表扬：坡头区政务服务中心不动产窗口服务好",
     "上周去办不动产转移登记，材料少了一份，窗口工作人员主动帮我联系，当天就办好了，点个赞！",
     "坡头群众", [("这个窗口确实效率高。", "南三岛居民")]),
    ("life", "雷州市某农贸市场周边占道经营严重",
     "市场门口早上摊位摆到机动车道上，车辆经常堵塞，希望城管部门加强管理，同时给摊贩安排规范的"
     "经营场所。", "雷州市民", [("早上七点到九点最严重。", "送孩子上学的家长")]),
    ("policy", "惠农补贴发放进度在哪里可以查询？",
     "今年的耕地地力保护补贴什么时候发？在哪里能查到本户的补贴明细？", "吴川种粮户",
     [("可以到镇财政所查询，或者看村务公开栏的公示。", "村干部")]),
]
# A reply hidden after publication, with its reason; one refused; one thread and one reply
# still waiting for an inspector.
HIDDEN_REPLY = ("那个窗口的李某某电话是 139xxxx，直接打给他就行。", "知情人", "含他人电话号码等个人信息")
REFUSED = ("life", "低价转让二手手机，有意私聊", "九成新，价格可议，有意者加群详谈。", "卖家",
           "与本论坛主题无关的商业广告")
PENDING_THREAD = ("advice", "建议公布各区县河长制巡河记录",
                  "建议在河长制公示牌上增加二维码，扫码可以看到近期巡河记录和问题整改情况，方便群众监督。",
                  "关心环境的人")
PENDING_REPLY = "我们村的公示牌上电话打不通，也希望能更新。"

POLLS = [
    ("service", "您对全市政务服务“一网通办”的满意度如何？",
     "请根据近一年在政务服务中心或网上办事的体验作答，结果将纳入各单位效能考核参考。",
     ["非常满意", "满意", "基本满意", "不满意"], [38, 64, 29, 11], True),
    ("policy", "您是否支持中心城区主干道实行错峰停车收费？",
     "为缓解中心城区停车难，市有关部门拟在主干道实行错峰停车收费（高峰时段收费、夜间免费），"
     "现征求市民意见。", ["支持", "有条件支持（需增加停车位）", "不支持", "说不清"], [27, 41, 22, 6],
     False),
]


def load(session, rng: random.Random, anchor: datetime) -> dict[str, int]:
    for word in WORDS:
        forum.add_word(session, ADMIN, word, now=anchor - timedelta(days=200))
    n_source = 0

    def source() -> str:
        nonlocal n_source
        n_source += 1
        return f"demo-visitor-{n_source}"

    threads = []
    for i, (topic, title, body, nick, replies) in enumerate(THREADS):
        t0 = anchor - timedelta(days=40 - i * 6, hours=rng.randint(0, 10))
        t = forum.post_thread(session, topic=topic, title=title, body=body, nickname=nick,
                              source=source(), now=t0)
        forum.moderate(session, INSPECTOR, t.id, "approve", now=t0 + timedelta(hours=rng.randint(1, 6)))
        at = t0
        for body_r, nick_r in replies:
            at = at + timedelta(hours=rng.randint(8, 40))
            r = forum.post_reply(session, thread_id=t.id, body=body_r, nickname=nick_r,
                                 source=source(), now=at)
            forum.moderate(session, INSPECTOR, r.id, "approve", now=at + timedelta(hours=2))
        threads.append((t, at))
    praised, at = threads[3]
    hidden = forum.post_reply(session, thread_id=praised.id, body=HIDDEN_REPLY[0],
                              nickname=HIDDEN_REPLY[1], source=source(), now=at + timedelta(hours=3))
    forum.moderate(session, INSPECTOR, hidden.id, "approve", now=at + timedelta(hours=4))
    forum.report(session, post_id=hidden.id, category="privacy", note="公开了工作人员的手机号",
                 source=source(), now=at + timedelta(hours=20))
    forum.moderate(session, INSPECTOR, hidden.id, "hide", HIDDEN_REPLY[2],
                   now=at + timedelta(hours=22))
    topic, title, body, nick, why = REFUSED
    refused = forum.post_thread(session, topic=topic, title=title, body=body, nickname=nick,
                                source=source(), now=anchor - timedelta(days=3))
    forum.moderate(session, INSPECTOR, refused.id, "reject", why, now=anchor - timedelta(days=3))
    # Reported and still open: the inspectors decide.
    reported = threads[4][0]
    forum.report(session, post_id=reported.id, category="false", note="市场已经整治过了",
                 source=source(), now=anchor - timedelta(hours=30))
    topic, title, body, nick = PENDING_THREAD
    forum.post_thread(session, topic=topic, title=title, body=body, nickname=nick,
                      source=source(), now=anchor - timedelta(hours=5))
    forum.post_reply(session, thread_id=threads[5][0].id, body=PENDING_REPLY, nickname="村民",
                     source=source(), now=anchor - timedelta(hours=2))

    votes = 0
    for k, (subject, title, description, options, counts, closed) in enumerate(POLLS):
        opened = anchor - timedelta(days=75 if closed else 20)
        poll = polls.create(session, INSPECTOR if k == 0 else ADMIN, subject=subject, title=title,
                            description=description, options=options,
                            closes_at=opened + timedelta(days=60 if closed else 80), now=opened)
        opts = polls.options(session, poll.id)
        last = (poll.closes_at if closed else anchor) - opened
        ballots = [o.id for o, n in zip(opts, counts, strict=True) for _ in range(n)]
        rng.shuffle(ballots)
        # The first ballots through the library; the rest in one statement (the demo must load
        # in seconds), under the same unique index, with one audit row for them.
        for j, option_id in enumerate(ballots[:5]):
            polls.vote(session, poll.id, option_id, source=f"demo-voter-{k}-{j}",
                       now=opened + last * rng.random())
        session.execute(insert(PollVote), [
            {"poll_id": poll.id, "option_id": option_id,
             "source_hash": privacy.source_hash(f"demo-voter-{k}-{j}"),
             "created_at": opened + last * rng.random()}
            for j, option_id in enumerate(ballots) if j >= 5])
        audit.record(session, actor="演示数据", action="poll.demo_votes", entity="poll",
                     entity_id=poll.id, after={"votes": len(ballots) - 5})
        votes += len(ballots)
    return {"posts": n_source, "votes": votes}
