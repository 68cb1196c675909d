window.YTD.account.part0 = [
  {
    "account": {
      "username": "my_archive",
      "accountId": "42",
      "accountDisplayName": "アーカイブの持ち主"
    }
  }
]
