import pytest

pytestmark = pytest.mark.emulator


def test_rules_are_loaded_and_judge_users(firestore):
    url = f"{firestore.documents_url}/users/alice/messages/m1"
    # Admin ("Bearer owner") bypasses the rules and can write anything.
    status, _ = firestore.request("PATCH", url, {"fields": {"text": {"stringValue": "hi"}}},
                                  firestore.admin_headers)
    assert status == 200
    assert firestore.request("GET", url, headers=firestore.user_headers("alice"))[0] == 200
    assert firestore.request("GET", url, headers=firestore.user_headers("mallory"))[0] == 403
