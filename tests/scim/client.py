"""Drives Veil's SCIM service provider with a real third-party SCIM client (scim2-client), one
step per run, as an identity provider would: the server integration test
(crates/server/tests/it/scim.rs) runs each step and checks Veil's decisions after it.

Usage: client.py BASE_URL TOKEN CA_FILE STEP [ARGUMENT...]; prints one JSON object.
"""

import json
import sys

import httpx2
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (
    Email,
    EnterpriseUser,
    Error,
    Group,
    GroupMember,
    PatchOp,
    PatchOperation,
    SearchRequest,
    User,
)


def connect(base_url, token, ca_file):
    http = httpx2.Client(
        base_url=base_url,
        headers={"Authorization": f"Bearer {token}"},
        verify=ca_file if ca_file != "-" else True,
    )
    client = SyncSCIMClient(http)
    # What every identity provider does first: read the configuration, resource types and
    # schemas, and build its models from them.
    client.discover()
    return client


def create_user(client, user_name, email, department):
    user = User[EnterpriseUser](
        user_name=user_name,
        display_name=user_name.title(),
        emails=[Email(value=email, primary=True, type="work")],
        active=True,
    )
    user[EnterpriseUser] = EnterpriseUser(department=department)
    created = client.create(user)
    return {"id": created.id, "version": created.meta.version}


def find_user(client, user_name):
    found = client.query(User, query_parameters=SearchRequest(filter=f'userName eq "{user_name}"'))
    return {"total": found.total_results, "ids": [user.id for user in found.resources or []]}


def find_users_in(client, filter_text, start_index, count):
    found = client.query(
        User,
        query_parameters=SearchRequest(
            filter=filter_text, start_index=int(start_index), count=int(count)
        ),
    )
    return {
        "total": found.total_results,
        "start": found.start_index,
        "names": [user.user_name for user in found.resources or []],
    }


def create_group(client, name):
    created = client.create(Group(display_name=name))
    return {"id": created.id}


def patch(client, model, resource_id, operations):
    modified = client.modify(model, resource_id, PatchOp[model](operations=operations))
    result = {"id": resource_id}
    if modified is not None:
        result["version"] = modified.meta.version
    return result


def add_member(client, group_id, user_id):
    operation = PatchOperation[Group](
        op="add", path="members", value=[GroupMember(value=user_id)]
    )
    return patch(client, Group, group_id, [operation])


def remove_member(client, group_id, user_id):
    # Okta's way: a value-filter path, no value.
    operation = PatchOperation[Group](
        op="remove", path=f'members[value eq "{user_id}"]'
    )
    return patch(client, Group, group_id, [operation])


def set_active(client, user_id, active):
    operation = PatchOperation[User](
        op="replace", path="active", value=active == "true"
    )
    return patch(client, User, user_id, [operation])


def get_user(client, user_id):
    user = client.query(User[EnterpriseUser], user_id)
    return {
        "userName": user.user_name,
        "active": user.active,
        "groups": [group.display for group in user.groups or []],
        "department": user[EnterpriseUser].department,
        "version": user.meta.version,
    }


def delete_user(client, user_id):
    client.delete(User, user_id)
    return {"deleted": user_id}


def malformed(client, what):
    """Requests scim2-client itself would refuse to send, sent raw over its HTTP client: what a
    misbehaving identity provider might send. Reports the SCIM error."""
    http = client.client
    if what == "filter":
        response = http.get("/Users", params={"filter": "userName eq"})
    elif what == "json":
        response = http.post(
            "/Users", content=b'{"schemas": [', headers={"Content-Type": "application/scim+json"}
        )
    elif what == "attribute":
        response = http.post(
            "/Users",
            json={"schemas": [User.__schema__], "userName": "mallory", "shoeSize": 44},
        )
    else:
        raise ValueError(what)
    body = response.json()
    return {"http": response.status_code, **body}


STEPS = {
    "create-user": create_user,
    "find-user": find_user,
    "find-users": find_users_in,
    "create-group": create_group,
    "add-member": add_member,
    "remove-member": remove_member,
    "set-active": set_active,
    "get-user": get_user,
    "delete-user": delete_user,
    "malformed": malformed,
}


def main():
    base_url, token, ca_file, step, *arguments = sys.argv[1:]
    client = connect(base_url, token, ca_file)
    result = STEPS[step](client, *arguments)
    if isinstance(result, Error):
        result = {"error": result.model_dump()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
