window.YTD.tweets.part0 = [
  {
    "tweet": {
      "id_str": "1700000000000000001",
      "created_at": "Mon Sep 11 03:00:00 +0000 2023",
      "full_text": "防衛省は11日、北朝鮮が弾道ミサイルの可能性があるものを発射したと発表した。",
      "entities": {
        "urls": []
      },
      "lang": "ja"
    }
  },
  {
    "tweet": {
      "id_str": "1700000000000000002",
      "created_at": "Mon Sep 11 04:30:00 +0000 2023",
      "full_text": "RT @nhk_news: 防衛省は11日、北朝鮮が弾道ミサイルの可能性があるものを発射したと発表した。",
      "entities": {
        "urls": []
      }
    }
  },
  {
    "tweet": {
      "id_str": "1700000000000000003",
      "created_at": "Mon Sep 11 05:00:00 +0000 2023",
      "full_text": "@someone 政府の対応が遅すぎる！国民を守る気があるのか&gt;&gt;岸田",
      "in_reply_to_status_id_str": "1699999999999999999",
      "entities": {
        "urls": []
      }
    }
  }
]
